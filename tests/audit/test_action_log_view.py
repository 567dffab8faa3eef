"""The auditors' view of the action log: everything for auditors, what concerns them for others."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.utils import timezone

from apps.approvals import services as approvals
from apps.audit.models import AuditEntry
from apps.audit.services import Actor, verify_chain
from tests.approvals.conftest import make_payment

pytestmark = pytest.mark.django_db


def actions(response) -> list[str]:
    return [e.action for e in response.context["listing"].page.rows]


@pytest.fixture
def approved(agent, manager):
    payment = make_payment()
    refund_request = approvals.request_refund(
        requester=agent,
        payment_id=payment.payment_id,
        amount_cents=500,
        category="other",
        reason="duplicate",
    )
    approvals.approve_request(
        approval_request=refund_request,
        approver=manager,
        comment="ok",
        authenticated_at=timezone.now(),
    )
    return payment, refund_request


def test_an_auditor_answers_who_did_what_to_a_payment(auditor_client, approved):
    payment, refund_request = approved
    response = auditor_client.get(f"/action-log/?q={payment.payment_id}")
    # Every entry on the request names the payment: request and approval, newest first.
    assert actions(response) == ["refund.approve", "refund.request"]
    by_request = auditor_client.get(f"/action-log/?q={refund_request.pk}")
    assert actions(by_request) == ["refund.approve", "refund.request"]
    page = auditor_client.get(
        f"/action-log/{by_request.context['listing'].page.rows[0].sequence}/"
    ).content.decode()
    assert "refund.approve" in page
    assert "mark.manager@example.com" in page


def test_agents_see_only_what_concerns_them_and_managers_what_they_handled(
    agent_client, manager_client, other_manager, approved
):
    from apps.audit.services import record

    record(action="identity.sign_in", actor=Actor.for_user(other_manager))
    agent_rows = agent_client.get("/action-log/").context["listing"].page.rows
    assert {"refund.request", "refund.approve"} <= {e.action for e in agent_rows}
    assert all(e.actor_user_id != other_manager.pk for e in agent_rows)
    assert AuditEntry.objects.filter(actor_user_id=other_manager.pk).exists()
    manager_sees = actions(manager_client.get("/action-log/?action=refund."))
    assert sorted(manager_sees) == ["refund.approve", "refund.request"]
    other = AuditEntry.objects.get(action="identity.sign_in", actor_user_id=other_manager.pk)
    assert manager_client.get(f"/action-log/{other.sequence}/").status_code == 404


def test_filters_csv_export_and_its_record(auditor_client, auditor, approved):
    assert actions(auditor_client.get("/action-log/?outcome=rejected")) == []
    response = auditor_client.get("/action-log/?action=refund.&format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["refund.approve", "refund.request"]
    assert len(rows[0]["hash"]) == 64
    assert AuditEntry.objects.filter(action="audit.export", actor_user_id=auditor.pk).exists()


def test_the_chain_status_and_verify_now(
    auditor_client, agent_client, settings, django_capture_on_commit_callbacks
):
    verify_chain()
    assert b"Verified through entry" in auditor_client.get("/action-log/").content
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        response = auditor_client.post("/action-log/verify/")
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="audit.verify").count() == 2
    assert agent_client.post("/action-log/verify/").status_code == 403


def test_the_tamper_check_panel_follows_a_running_verification(auditor_client, auditor):
    """Asked for over htmx, the panel says it is running and polls until the result is in."""
    response = auditor_client.post("/action-log/verify/", HTTP_HX_REQUEST="true")
    running = response.content.decode()
    assert "A verification is running" in running
    assert 'hx-trigger="every 2s"' in running
    assert "Verify the whole log now" not in running  # one at a time
    verify_chain()  # what the Celery task does
    done = auditor_client.get("/action-log/verify/status/", HTTP_HX_REQUEST="true")
    assert "Verified through entry" in done.content.decode()
    assert "hx-trigger" not in done.content.decode()


def test_unknown_entries_are_404(auditor_client):
    assert auditor_client.get(f"/action-log/{uuid.uuid4().int % 10_000_000}/").status_code == 404


def test_the_action_log_count_is_cut_short_by_the_lists_timeout(
    auditor_client, auditor, settings, monkeypatch
):
    """The action log only grows: its count runs under the lists' timeout, like theirs."""
    import apps.home.paging as paging
    from apps.audit.services import record

    for number in range(60):
        record(
            actor=Actor.for_user(auditor),
            action="audit.export",
            target_type="report",
            target_id=str(number),
        )
    settings.PORTAL_LIST_COUNT_TIMEOUT_MS = 250  # generous: a loaded machine must not cut it
    response = auditor_client.get("/action-log/")
    assert f"{AuditEntry.objects.count()} entries".encode() in response.content

    order_by = paging.QuerySet.order_by

    def slow_count(self, *fields):  # the count's queryset (no fields) reads a row a second
        ordered = order_by(self, *fields)
        return ordered.extra(where=["pg_sleep(1) IS NOT NULL"]) if not fields else ordered

    monkeypatch.setattr(paging.QuerySet, "order_by", slow_count)
    settings.PORTAL_LIST_COUNT_MEMO_SECONDS = 0
    response = auditor_client.get("/action-log/")
    assert response.status_code == 200
    assert b"More than 50 entries" in response.content
