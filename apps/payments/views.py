"""Payments: the list agents search all day, and each payment's page."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from apps.events.selectors import timeline_for
from apps.home import registry
from apps.home.csv_export import csv_response
from apps.identity.access import require_roles
from apps.identity.roles import Role
from apps.payments import selectors, services
from apps.payments.tables import PaymentTable, RefundTable
from apps.workspace.lists import list_workspace as _workspace
from apps.workspace.services import note_record_opened

SORTABLE = {"created_at": "Created", "amount_cents": "Amount"}


@require_roles(*Role.values)
@require_safe
def payment_list(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_response(
            services.export_payments_csv(user=request.user, params=request.GET, request=request),
            "payments",
        )
    listing = selectors.payment_listing(request.GET)
    context = {
        "list_url": reverse("payments:list"),
        "listing": listing,
        **_workspace(request, "payments", PaymentTable, listing.page.rows),
        "sortable": selectors.payment_sortable(request.GET),
        "newest_sync": selectors.newest_sync,  # called only by a full page
    }
    # The filter form and the pager swap only the results; a normal request gets the page.
    template = "payments/payment_list.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, context)


@require_roles(*Role.values)
@require_safe
def payment_detail(request: HttpRequest, payment_id: uuid.UUID) -> HttpResponse:
    payment = selectors.payment_detail(payment_id)
    note_record_opened(
        owner=request.user,
        kind="payment",
        record_id=str(payment.payment_id),
        label=f"Payment {str(payment.payment_id)[:8]} · {payment.merchant_reference}".rstrip(" ·"),
        url=request.path,
    )
    return render(
        request,
        "payments/payment_detail.html",
        {
            "payment": payment,
            "refunds": selectors.refunds_of(payment),
            "timeline": timeline_for(payment.payment_id),
            # Sections other apps add (the refund requests panel), without this app knowing them.
            "record_panels": registry.panels_for("payment", request, payment),
        },
    )


@require_roles(*Role.values)
@require_safe
def refund_list(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_response(
            services.export_refunds_csv(user=request.user, params=request.GET, request=request),
            "refunds",
        )
    listing = selectors.refund_listing(request.GET)
    context = {
        "list_url": reverse("payments:refunds"),
        "listing": listing,
        **_workspace(request, "refunds", RefundTable, listing.page.rows),
        "sortable": SORTABLE,
        "newest_sync": selectors.newest_sync,  # called only by a full page
    }
    template = "payments/refund_list.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, context)


@require_roles(*Role.values)
@require_safe
def refund_detail(request: HttpRequest, refund_id: uuid.UUID) -> HttpResponse:
    refund = selectors.refund_detail(refund_id)
    note_record_opened(
        owner=request.user,
        kind="refund",
        record_id=str(refund.refund_id),
        label=f"Refund {str(refund.refund_id)[:8]}",
        url=request.path,
    )
    return render(
        request,
        "payments/refund_detail.html",
        {"refund": refund, "timeline": timeline_for(refund.refund_id)},
    )
