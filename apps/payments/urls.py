from django.urls import path

from apps.payments import views

app_name = "payments"

urlpatterns = [
    path("", views.payment_list, name="list"),
    path("<uuid:payment_id>/", views.payment_detail, name="detail"),
    path("refunds/", views.refund_list, name="refunds"),
    path("refunds/<uuid:refund_id>/", views.refund_detail, name="refund_detail"),
]
