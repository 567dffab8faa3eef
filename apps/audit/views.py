"""The action log: the auditors' view (others see what concerns them), entries, export, verification."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from apps.audit import selectors, services
from apps.audit.tables import AuditEntryTable, target_link
from apps.home.csv_export import csv_response
from apps.identity.access import require_roles
from apps.identity.roles import Role


@require_roles(*Role.values)
@require_safe
def entry_list(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_response(
            services.export_entries_csv(user=request.user, params=request.GET, request=request),
            "action-log",
        )
    listing = selectors.audit_listing(request.user, request.GET)
    context = {
        "list_url": reverse("audit:list"),
        "listing": listing,
        "table": AuditEntryTable(listing.page.rows),
        "sortable": {},
        **_chain_context(request),
    }
    template = "audit/entry_list.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, context)


@require_roles(*Role.values)
@require_safe
def entry_detail(request: HttpRequest, sequence: int) -> HttpResponse:
    entry = selectors.entry_visible_to(request.user, sequence)
    return render(
        request,
        "audit/entry_detail.html",
        {"entry": entry, "target": target_link(entry.target_type, entry.target_id)},
    )


def _chain_context(request: HttpRequest) -> dict:
    return {
        "chain": selectors.chain_status(),
        "verification_pending": selectors.verification_pending(),
        "sees_everything": request.user.has_role(Role.AUDITOR),
    }


@require_roles(*Role.values)
@require_safe
def chain_status(request: HttpRequest) -> HttpResponse:
    """The tamper-check panel (polled while a verification runs)."""
    return render(request, "audit/entry_list.html#chain-status", _chain_context(request))


# Auditors may start a verification: it reads the log and appends its own result, nothing else.
@require_roles(Role.AUDITOR)
@require_POST
def verify_now(request: HttpRequest) -> HttpResponse:
    services.request_verification(user=request.user, request=request)
    if request.htmx:
        return render(request, "audit/entry_list.html#chain-status", _chain_context(request))
    messages.success(request, "Verification started. Its result appears here when it is done.")
    return redirect("audit:list")
