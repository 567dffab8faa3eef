"""The portal's URL map. Every view declares the roles it needs next to itself."""

from __future__ import annotations

from django.urls import include, path

from apps.identity.urls import allauth_urlpatterns

urlpatterns = [
    path("", include("apps.health.urls")),
    path("", include("apps.home.urls")),
    path("accounts/", include("apps.identity.urls")),
    path("payments/", include("apps.payments.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("views/", include("apps.workspace.urls")),
    path("action-log/", include("apps.audit.urls")),
    path("requests/", include("apps.approvals.urls")),
    path("reports/", include("apps.reports.urls")),
    path("dead-letters/", include("apps.events.urls")),
    path("api/", include("apps.api.urls")),
    *allauth_urlpatterns,
]

handler403 = "apps.home.views.permission_denied"
handler404 = "apps.home.views.page_not_found"
