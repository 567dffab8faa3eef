from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.account_list, name="list"),
    path("<uuid:account_id>/", views.account_detail, name="detail"),
]
