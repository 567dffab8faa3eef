from django.urls import path

from apps.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.entry_list, name="list"),
    path("<int:sequence>/", views.entry_detail, name="detail"),
    path("verify/", views.verify_now, name="verify"),
    path("verify/status/", views.chain_status, name="chain_status"),
    path("digests/", views.digest_list, name="digests"),
    path("digests/all.zip", views.digest_archive, name="digest_archive"),
    path("digests/public-key.pem", views.public_key, name="public_key"),
    path("digests/<int:number>.json", views.digest_download, name="digest_download"),
]
