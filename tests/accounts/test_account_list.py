"""The accounts list and page: search by id prefix, email or name; balances in their currency."""

from __future__ import annotations

import uuid

import pytest

from tests.approvals.conftest import make_account, make_payment

pytestmark = pytest.mark.django_db


def ids(response) -> list[str]:
    return [str(a.account_id) for a in response.context["listing"].page.rows]


def test_search_by_email_prefix_name_and_id_prefix(agent_client):
    grace = make_account(owner_name="Grace Hopper", owner_email="Grace.Hopper@example.com")
    make_account(owner_name="Alan Turing", owner_email="alan@example.com")
    assert ids(agent_client.get("/accounts/?q=grace.h")) == [str(grace.account_id)]
    assert ids(agent_client.get("/accounts/?q=grace h")) == [str(grace.account_id)]
    assert ids(agent_client.get(f"/accounts/?q={str(grace.account_id)[:6]}")) == [
        str(grace.account_id)
    ]


def test_filters_by_status_and_currency(auditor_client):
    frozen = make_account(status="frozen", currency="KWD")
    make_account(status="active", currency="KWD")
    assert ids(auditor_client.get("/accounts/?status=frozen&currency=KWD")) == [
        str(frozen.account_id)
    ]


def test_the_account_page_shows_balance_payments_and_timeline(manager_client):
    account = make_account(currency="KWD", balance_cents=1_234_567)
    make_payment(account_id=account.account_id, currency="KWD", amount_cents=2_500)
    page = manager_client.get(f"/accounts/{account.account_id}/").content.decode()
    assert "KWD1,234.567" in page
    assert "KWD2.500" in page
    assert "Timeline of events" in page
    assert manager_client.get(f"/accounts/{uuid.uuid4()}/").status_code == 404


def test_no_role_and_anonymous_are_kept_out(client, no_role_client):
    assert client.get("/accounts/").status_code == 302
    assert no_role_client.get("/accounts/").status_code == 302


def test_the_accounts_csv_is_the_filtered_view(auditor_client):
    import csv
    import io

    from apps.audit.models import AuditEntry

    frozen = make_account(status="frozen", currency="JPY", balance_cents=1200)
    make_account(status="active")
    response = auditor_client.get("/accounts/?status=frozen&format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["account_id"], r["balance"]) for r in rows] == [(str(frozen.account_id), "1200")]
    assert AuditEntry.objects.filter(action="accounts.export").exists()
