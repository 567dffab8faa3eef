"""The portal's URLs plus the stock admin for payments (benchmark only)."""

from django.contrib import admin
from django.urls import path

from apps.payments.models import Payment
from portal.urls import urlpatterns as portal_urlpatterns


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "payment_id",
        "created_at",
        "amount_cents",
        "currency",
        "status",
        "merchant_reference",
    )
    list_filter = ("status", "currency")
    search_fields = ("payment_id", "merchant_reference")
    ordering = ("-created_at",)


urlpatterns = [path("admin/", admin.site.urls), *portal_urlpatterns]
