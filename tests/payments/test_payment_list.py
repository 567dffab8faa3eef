"""The payments list: filters, id search, amounts in major units, keyset paging, bounded queries, roles."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.payments.models import Payment
from tests.approvals.conftest import make_account, make_payment

pytestmark = pytest.mark.django_db


def ids(response) -> list[str]:
    return [str(p.payment_id) for p in response.context["listing"].page.rows]


def test_every_role_reads_and_nobody_else(
    client, agent_client, manager_client, auditor_client, no_role_client
):
    for reader in (agent_client, manager_client, auditor_client):
        assert reader.get("/payments/").status_code == 200
    assert client.get("/payments/").status_code == 302
    assert no_role_client.get("/payments/")["Location"] == "/no-access/"


def test_newest_first_with_honest_counts_and_an_empty_state(agent_client):
    older = make_payment(created_at=timezone.now() - timedelta(days=3))
    newer = make_payment(created_at=timezone.now() - timedelta(days=1))
    response = agent_client.get("/payments/")
    assert ids(response) == [str(newer.payment_id), str(older.payment_id)]
    assert b"2 payments" in response.content
    empty = agent_client.get("/payments/?status=failed")
    assert b"No payment matches these filters" in empty.content


def test_a_uuid_prefix_finds_the_payment(agent_client):
    target = make_payment(payment_id=uuid.UUID("6a1d4f0e-3c2b-4b1a-9e7f-2d5c8b9a0f13"))
    make_payment(payment_id=uuid.UUID("6a1e0000-0000-4000-8000-000000000000"))
    assert ids(agent_client.get("/payments/?q=6a1d4f")) == [str(target.payment_id)]
    assert ids(agent_client.get("/payments/?q=6A1D-4F0E")) == [str(target.payment_id)]
    assert ids(agent_client.get(f"/payments/?q={target.payment_id}")) == [str(target.payment_id)]


def test_search_by_account_id_and_merchant_reference(agent_client):
    account = make_account()
    mine = make_payment(account_id=account.account_id, merchant_reference="ORD-777")
    make_payment(merchant_reference="ORD-123")
    assert ids(agent_client.get(f"/payments/?q={account.account_id}")) == [str(mine.payment_id)]
    assert ids(agent_client.get("/payments/?q=ORD-77")) == [str(mine.payment_id)]


def test_amounts_are_in_major_units_of_each_currency(agent_client):
    yen = make_payment(currency="JPY", amount_cents=1_500)  # ¥1,500
    euros = make_payment(currency="EUR", amount_cents=1_500)  # €15.00
    dinars = make_payment(currency="KWD", amount_cents=1_500)  # KWD 1.500
    assert ids(agent_client.get("/payments/?amount_min=1000&currency=JPY")) == [str(yen.payment_id)]
    both = set(ids(agent_client.get("/payments/?amount_min=10")))
    assert both == {str(yen.payment_id), str(euros.payment_id)}  # 1.5 KWD is below 10
    assert ids(agent_client.get("/payments/?amount_max=2")) == [str(dinars.payment_id)]


def test_filters_and_a_bad_value_gets_a_clear_error(agent_client):
    settled = make_payment(status="settled", currency="USD")
    make_payment(status="failed", currency="USD")
    assert ids(agent_client.get("/payments/?status=settled&currency=USD")) == [
        str(settled.payment_id)
    ]
    response = agent_client.get("/payments/?status=lost")
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert ids(response) == []


def test_keyset_paging_walks_forwards_and_back_with_filters_kept(agent_client, settings):
    base = timezone.now()
    payments = [
        make_payment(created_at=base - timedelta(minutes=i), currency="EUR") for i in range(120)
    ]
    first = agent_client.get("/payments/?currency=EUR")
    assert ids(first) == [str(p.payment_id) for p in payments[:50]]
    next_cursor = first.context["listing"].page.next_cursor
    second = agent_client.get(f"/payments/?currency=EUR&after={next_cursor}")
    assert ids(second) == [str(p.payment_id) for p in payments[50:100]]
    back = agent_client.get(
        f"/payments/?currency=EUR&before={second.context['listing'].page.previous_cursor}"
    )
    assert ids(back) == ids(first)
    third = agent_client.get(
        f"/payments/?currency=EUR&after={second.context['listing'].page.next_cursor}"
    )
    assert ids(third) == [str(p.payment_id) for p in payments[100:]]
    assert third.context["listing"].page.next_cursor is None
    assert b"currency=EUR" in second.content  # the pager keeps the filters


def test_sorting_by_amount(agent_client):
    small, large = make_payment(amount_cents=100), make_payment(amount_cents=9_000)
    assert ids(agent_client.get("/payments/?sort=-amount_cents")) == [
        str(large.payment_id),
        str(small.payment_id),
    ]
    assert ids(agent_client.get("/payments/?sort=amount_cents")) == [
        str(small.payment_id),
        str(large.payment_id),
    ]


def test_a_page_costs_the_same_queries_whatever_its_size(agent_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert agent_client.get("/payments/").status_code == 200
        return len(captured)

    for _ in range(60):  # more than a page: the count runs (a single page is counted from its rows)
        make_payment()
    queries()  # the first request of a session also writes the session
    few = queries()
    for _ in range(60):
        make_payment()
    assert queries() == few
    assert few <= 12  # in a test's transaction, uncached; test_list_budgets pins the views' budget


def test_htmx_requests_get_only_the_results(agent_client):
    make_payment()
    fragment = agent_client.get(
        "/payments/?status=settled", headers={"HX-Request": "true", "HX-Target": "results"}
    )
    assert fragment.status_code == 200
    assert b'id="results"' in fragment.content
    assert b"<html" not in fragment.content


def test_the_detail_page_shows_amounts_refunds_account_and_timeline(agent_client):
    payment = make_payment(
        currency="JPY", amount_cents=12_000, refunded_cents=2_000, status="partially_refunded"
    )
    page = agent_client.get(f"/payments/{payment.payment_id}/").content.decode()
    assert "¥12,000" in page
    assert "¥10,000" in page  # refundable
    assert "has not reached the portal yet" in page  # its account is not synced
    assert agent_client.get(f"/payments/{uuid.uuid4()}/").status_code == 404
    assert Payment.objects.count() == 1


def test_the_csv_export_is_exactly_the_filtered_view_streamed_and_recorded(agent_client, agent):
    import csv
    import io

    from apps.audit.models import AuditEntry

    yen = make_payment(currency="JPY", amount_cents=1_500, status="settled")
    make_payment(currency="EUR", amount_cents=1_500, status="settled")
    response = agent_client.get("/payments/?currency=JPY&format=csv")
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["payment_id"] for r in rows] == [str(yen.payment_id)]
    assert (rows[0]["amount"], rows[0]["amount_cents"]) == ("1500", "1500")
    entry = AuditEntry.objects.get(action="payments.export")
    assert entry.actor_user_id == agent.pk
    assert entry.params["filters"] == {"currency": "JPY"}


def test_a_banner_warns_when_the_event_intake_lags(agent_client, settings):
    from apps.events.models import IntakeHeartbeat

    settings.PORTAL_FRESHNESS_WARN_SECONDS = 60
    IntakeHeartbeat.objects.create(
        consumer="w1",
        seen_at=timezone.now(),
        last_batch_at=timezone.now(),
        last_batch_lag_seconds=0.2,
    )
    assert b"may be out of date" not in agent_client.get("/payments/").content
    IntakeHeartbeat.objects.filter(consumer="w1").update(
        seen_at=timezone.now() - timedelta(minutes=5)
    )
    assert b"may be out of date" in agent_client.get("/payments/").content


def test_the_csv_defuses_text_a_spreadsheet_would_run_as_a_formula(agent_client):
    import csv
    import io

    make_payment(currency="EUR", merchant_reference='=HYPERLINK("http://evil")', description="-2+3")
    response = agent_client.get("/payments/?format=csv")
    row = next(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert row["merchant_reference"].startswith("'=HYPERLINK")
    assert row["description"] == "'-2+3"
    assert not row["amount"].startswith("'")
