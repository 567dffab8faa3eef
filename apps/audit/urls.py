from django.urls import path

from apps.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.entry_list, name="list"),
    path("<int:sequence>/", views.entry_detail, name="detail"),
    path("verify/", views.verify_now, name="verify"),
    path("verify/status/", views.chain_status, name="chain_status"),
]
