"""Accounts: the list and each account's page."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from apps.accounts import selectors, services
from apps.accounts.tables import AccountTable
from apps.events.selectors import timeline_for
from apps.home import registry
from apps.home.csv_export import csv_response
from apps.identity.access import require_roles
from apps.identity.roles import Role
from apps.payments.tables import PaymentTable
from apps.workspace.lists import list_workspace as _workspace
from apps.workspace.services import note_record_opened


@require_roles(*Role.values)
@require_safe
def account_list(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_response(
            services.export_accounts_csv(user=request.user, params=request.GET, request=request),
            "accounts",
        )
    listing = selectors.account_listing(request.GET)
    context = {
        "list_url": reverse("accounts:list"),
        "listing": listing,
        **_workspace(request, "accounts", AccountTable, listing.page.rows),
        "sortable": {"created_at": "Created", "balance_cents": "Balance"},
        "newest_sync": selectors.newest_sync,  # called only by a full page
    }
    template = "accounts/account_list.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, context)


@require_roles(*Role.values)
@require_safe
def account_detail(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    account = selectors.account_detail(account_id)
    note_record_opened(
        owner=request.user,
        kind="account",
        record_id=str(account.account_id),
        label=f"Account {str(account.account_id)[:8]} · {account.owner_name}",
        url=request.path,
    )
    return render(
        request,
        "accounts/account_detail.html",
        {
            "account": account,
            "payments": PaymentTable(list(selectors.recent_payments_of(account.account_id))),
            "timeline": timeline_for(account.account_id),
            # Sections other apps add (the freeze requests panel), without this app knowing them.
            "record_panels": registry.panels_for("account", request, account),
        },
    )
