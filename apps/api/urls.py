"""``/api/``: the versioned service API, its OpenAPI schema and the docs page."""

from __future__ import annotations

from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from apps.api import views
from apps.identity.access import require_roles
from apps.identity.roles import Role

app_name = "api"


class AnyRest:
    """The rest of a path, whatever it holds (newlines included): unknown API paths stay JSON."""

    regex = "(?s:.+)"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyRest, "anyrest")

# The schema and its docs page are for the people who build the Go services: anyone with a
# portal role, by their session (the outer check); DRF's own token check does not apply.
_FOR_PEOPLE = {
    "authentication_classes": [],
    "permission_classes": [AllowAny],
    "throttle_classes": [],
}

urlpatterns = [
    path("v1/report-runs/", views.ReportRunList.as_view(), name="report-runs"),
    path("v1/report-runs/<uuid:run_id>/", views.ReportRunDetail.as_view(), name="report-run"),
    path(
        "v1/report-runs/<uuid:run_id>/files/<slug:file_format>/",
        views.ReportRunFile.as_view(),
        name="report-run-file",
    ),
    path(
        "v1/refund-requests/<uuid:reference>/",
        views.RefundRequestStatus.as_view(),
        name="refund-request",
    ),
    path(
        "schema/",
        require_roles(*Role.values)(SpectacularAPIView.as_view(**_FOR_PEOPLE)),
        name="schema",
    ),
    path(
        "docs/",
        require_roles(*Role.values)(
            SpectacularSwaggerSplitView.as_view(
                url_name="api:schema", template_name="api/swagger_ui.html", **_FOR_PEOPLE
            )
        ),
        name="docs",
    ),
    path("<anyrest:rest>", views.UnknownEndpoint.as_view(), name="unknown"),
]
