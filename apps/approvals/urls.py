from django.urls import path

from apps.approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.my_requests, name="mine"),
    path("queue/", views.approval_queue, name="queue"),
    path("<uuid:request_id>/", views.request_detail, name="detail"),
    path("<uuid:request_id>/status/", views.request_status, name="status"),
    path("<uuid:request_id>/approve/", views.approve, name="approve"),
    path("<uuid:request_id>/reject/", views.reject, name="reject"),
    path("<uuid:request_id>/cancel/", views.cancel, name="cancel"),
    path("<uuid:request_id>/recheck/", views.recheck, name="recheck"),
    path("<uuid:request_id>/retry/", views.retry, name="retry"),
    path("payment/<uuid:payment_id>/", views.payment_requests, name="payment_requests"),
    path("payment/<uuid:payment_id>/refund/", views.request_refund, name="request_refund"),
    path("payment/<uuid:payment_id>/check-amount/", views.check_refund_amount, name="check_amount"),
    path("account/<uuid:account_id>/", views.account_requests, name="account_requests"),
    path("account/<uuid:account_id>/freeze/", views.request_freeze, name="request_freeze"),
]
