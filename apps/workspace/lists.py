"""The lists people can save views of and choose columns for, and what a list page needs from them."""

from __future__ import annotations

from django.http import HttpRequest

from apps.workspace import selectors

# list name → (URL name, the columns a person may choose from)
LISTS = {
    "payments": (
        "payments:list",
        [
            "payment_id",
            "created_at",
            "owner",
            "amount_cents",
            "refunded_cents",
            "status",
            "merchant_reference",
        ],
    ),
    "accounts": (
        "accounts:list",
        ["account_id", "owner_name", "owner_email", "status", "balance_cents", "created_at"],
    ),
    "refunds": (
        "payments:refunds",
        [
            "refund_id",
            "created_at",
            "payment_id",
            "amount_cents",
            "status",
            "failure_reason",
            "reference",
        ],
    ),
}


def list_workspace(request: HttpRequest, list_name: str, table_class, rows) -> dict:
    """The table with the columns this person shows, their saved views and the chooser's labels."""
    allowed = LISTS[list_name][1]
    preferences = selectors.list_preferences(
        owner=request.user, list_name=list_name, allowed=allowed, requested=request.GET.get("cols")
    )
    columns = preferences.columns
    table = table_class(rows, exclude=[c for c in allowed if c not in columns])
    labels = [(c, table_class.base_columns[c].verbose_name) for c in allowed]
    return {
        "table": table,
        "list_name": list_name,
        "columns": columns,
        "column_labels": labels,
        "saved_views": preferences.saved_views,
    }
