"""What the accounts app contributes to the header search (registered in ``AccountsConfig.ready``):
account ids (whole or from 8 characters) and the customer's e-mail address.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from apps.accounts.models import Account
from apps.home import registry
from apps.home.search import by_id


def find_accounts(user: Any, text: str, limit: int) -> list[registry.SearchHit]:
    """Every role may open accounts: by id, or by the owner's e-mail (exact, any letter case)."""
    found = by_id(Account.objects.all(), text)
    if found is None and "@" in text:
        # The index is on the address as stored; the two spellings cover pasted capitals.
        found = Account.objects.filter(owner_email__in={text, text.lower()}).order_by("pk")
    if found is None:
        return []
    return [
        registry.SearchHit(
            kind="Account",
            label=f"{account.owner_name} · {str(account.account_id)[:8]}",
            url=reverse("accounts:detail", kwargs={"account_id": account.account_id}),
            detail=f"{account.get_status_display()} · {account.currency}",
        )
        for account in found[:limit]
    ]


def register() -> None:
    registry.register_search_source(registry.SearchSource("accounts", find_accounts, order=15))
