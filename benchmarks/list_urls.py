"""The portal's URLs plus the yardsticks of the list benchmark (benchmark only).

- The stock Django admin for payments and accounts, configured in its favour
  as the issue measured it: 50 rows, ``list_select_related``, newest first,
  list filters with fixed choices only (MEASURED.md: a filter over a field
  without choices runs ``SELECT DISTINCT`` over the whole table on every
  request). A second admin site (``/lean-admin/``) also sets
  ``show_full_result_count = False``, which saves it the second, unfiltered
  count on filtered pages.
- A bare Django keyset view: the same rows and filters through the ORM, a
  small template, the same role check, no shell.
- An empty signed-in response through the same middleware (``/bare/empty/``):
  what every page pays before it does anything (session, user, role check).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template import Context, Engine
from django.urls import path

from apps.accounts.models import Account
from apps.home.paging import keyset_page
from apps.identity.access import require_roles
from apps.identity.roles import Role
from apps.payments.models import Payment
from portal.urls import urlpatterns as portal_urlpatterns


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "payment_id",
        "created_at",
        "account",
        "amount_cents",
        "currency",
        "status",
        "merchant_reference",
    )
    list_filter = ("status",)
    list_select_related = ("account",)
    list_per_page = 50
    search_fields = ("payment_id", "merchant_reference")
    ordering = ("-created_at",)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = (
        "account_id",
        "owner_name",
        "owner_email",
        "status",
        "balance_cents",
        "created_at",
    )
    list_filter = ("status",)
    list_per_page = 50
    search_fields = ("owner_email", "owner_name")
    ordering = ("-created_at",)


lean_admin = admin.AdminSite(name="lean_admin")
lean_admin.register(
    Payment, type("LeanPaymentAdmin", (PaymentAdmin,), {"show_full_result_count": False})
)
lean_admin.register(
    Account, type("LeanAccountAdmin", (AccountAdmin,), {"show_full_result_count": False})
)


_ENGINE = Engine(debug=False)
_TABLE = _ENGINE.from_string(
    "<!doctype html><title>{{ title }}</title><table>"
    "{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}"
    '</table>{% if next %}<a href="?after={{ next }}">Next</a>{% endif %}'
)


def _render(title: str, rows: list[tuple], next_cursor: str | None) -> HttpResponse:
    return HttpResponse(_TABLE.render(Context({"title": title, "rows": rows, "next": next_cursor})))


@require_roles(*Role.values)
def bare_payments(request: HttpRequest) -> HttpResponse:
    payments = Payment.objects.select_related("account")
    for name in ("status", "currency"):
        if request.GET.get(name):
            payments = payments.filter(**{name: request.GET[name]})
    page = keyset_page(
        payments,
        field="created_at",
        descending=True,
        pk="payment_id",
        after=request.GET.get("after"),
    )
    rows = [
        (
            p.payment_id,
            p.created_at,
            p.account.owner_name if p.account else "",
            p.amount_cents,
            p.currency,
            p.status,
            p.merchant_reference,
        )
        for p in page.rows
    ]
    return _render("Payments", rows, page.next_cursor)


@require_roles(*Role.values)
def bare_accounts(request: HttpRequest) -> HttpResponse:
    page = keyset_page(
        Account.objects.all(),
        field="created_at",
        descending=True,
        pk="account_id",
        after=request.GET.get("after"),
    )
    rows = [
        (a.account_id, a.owner_name, a.owner_email, a.status, a.balance_cents, a.created_at)
        for a in page.rows
    ]
    return _render("Accounts", rows, page.next_cursor)


@require_roles(*Role.values)
def bare_empty(request: HttpRequest) -> HttpResponse:
    """No rows, no template: what any signed-in page pays (session, user, middleware)."""
    return HttpResponse("ok")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("lean-admin/", lean_admin.urls),
    path("bare/payments/", bare_payments),
    path("bare/accounts/", bare_accounts),
    path("bare/empty/", bare_empty),
    *portal_urlpatterns,
]
