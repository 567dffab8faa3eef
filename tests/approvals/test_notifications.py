"""Managers hear when a request waits: once per state change, after commit, by e-mail and webhook.

The Celery tasks run in this process (``task_always_eager``) so Django's
locmem outbox can be read; the webhook goes over real HTTP to a receiver
started here.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.db import transaction

from apps.approvals import services
from apps.approvals.models import RefundRequest
from apps.approvals.services import notifying
from apps.audit.models import AuditEntry
from tests.approvals.conftest import approve_now, make_payment, refund_request_by
from tests.factories import UserFactory


class Receiver:
    """A local webhook endpoint: records every JSON body; answers the statuses it is given."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(settings):
    receiver = Receiver()
    settings.APPROVAL_WEBHOOK_URL = receiver.url
    yield receiver
    receiver.close()


@pytest.fixture(autouse=True)
def tasks_run_here(settings):
    # Celery reads its settings through Django's: eager tasks keep their exceptions in their
    # result, as a worker would log them, and an eager retry runs at once (no countdown).
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def managers(manager, other_manager):
    third = UserFactory(username="mona.manager", roles=["manager"])
    return [manager, other_manager, third]


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


@pytest.mark.django_db
def test_a_new_request_reaches_every_manager_once_by_mail_and_webhook(
    agent, managers, webhook, django_capture_on_commit_callbacks
):
    payment = make_payment(amount_cents=10_000)
    with django_capture_on_commit_callbacks(execute=True):
        refund_request = refund_request_by(agent, payment, amount_cents=2_550, reason="secret why")

    assert recipients() == sorted(m.email for m in managers)
    message = mail.outbox[0]
    short = str(payment.payment_id)[:8]
    link = f"https://portal.example.com/requests/{refund_request.pk}/"
    assert message.subject == f"Waiting for a manager: Refund of 25.50 EUR on payment {short}"
    assert message.body == f"{message.subject}, requested by {agent.display_name}. {link}\n"
    # Nothing more than amount, short id, requester and link leaves the portal.
    for secret in (
        "secret why",
        str(payment.payment_id),
        "Ada Lovelace",
        payment.merchant_reference,
    ):
        assert secret not in message.body
        assert secret not in webhook.bodies[0]["text"]
    assert webhook.bodies == [{"text": message.body.strip()}]
    # On the request, where its page's "every action-log entry" link finds them.
    channels = AuditEntry.objects.filter(
        target_type="refund_request", target_id=str(refund_request.pk)
    ).values_list("action", "params")
    assert ("approvals.notify.email", {"stage": "first", "recipients": 3}) in channels
    assert ("approvals.notify.webhook", {"stage": "first", "http_status": 200}) in channels


@pytest.mark.django_db
def test_the_first_of_two_approvals_tells_the_others_then_nothing_more(
    agent, managers, webhook, settings, django_capture_on_commit_callbacks
):
    settings.REFUND_APPROVAL_THRESHOLDS = "EUR:20"
    first, second, third = managers
    with django_capture_on_commit_callbacks(execute=True):
        refund_request = refund_request_by(agent, make_payment(), amount_cents=5_000)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approve_now(refund_request, first)
    assert recipients() == sorted([second.email, third.email])  # not the one who approved
    assert mail.outbox[0].subject.startswith("Waiting for a second manager: Refund of 50.00 EUR")
    assert len(webhook.bodies) == 2
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approve_now(RefundRequest.objects.get(pk=refund_request.pk), second)
    assert mail.outbox == []
    assert len(webhook.bodies) == 2


@pytest.mark.django_db
def test_a_decision_that_ends_the_wait_sends_nothing(
    agent, manager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        refund_request = refund_request_by(agent, make_payment())
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.reject_request(approval_request=refund_request, rejecter=manager, comment="no")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        another = refund_request_by(agent, make_payment())
    assert len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        approve_now(another, manager)
    assert len(mail.outbox) == 1  # the approval that ends the wait sends none


@pytest.mark.django_db
def test_a_notice_that_arrives_after_the_decision_is_dropped(
    agent, manager, django_capture_on_commit_callbacks
):
    """A busy worker or a retry delivers late: the manager is not sent to a decided request."""
    with django_capture_on_commit_callbacks(execute=True):
        refund_request = refund_request_by(agent, make_payment())
        services.reject_request(approval_request=refund_request, rejecter=manager, comment="no")
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_nothing_is_sent_when_the_transaction_rolls_back(agent, manager, webhook):
    payment = make_payment()

    def request_then_give_up() -> None:
        with transaction.atomic():
            refund_request_by(agent, payment)
            raise RuntimeError("something later in the same transaction failed")

    with pytest.raises(RuntimeError):
        request_then_give_up()
    assert mail.outbox == []
    assert webhook.bodies == []
    assert not RefundRequest.objects.exists()

    refund_request_by(agent, payment)  # committed: told once
    assert recipients() == [manager.email]
    assert len(webhook.bodies) == 1


@pytest.mark.django_db
def test_a_failing_webhook_is_retried_and_the_success_recorded(
    agent, manager, webhook, django_capture_on_commit_callbacks
):
    webhook.statuses = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        refund_request = refund_request_by(agent, make_payment())
    assert len(webhook.bodies) == 3  # two failures, then taken
    assert len(mail.outbox) == 1  # the e-mail is its own task: not sent again
    entries = AuditEntry.objects.filter(
        action="approvals.notify.webhook", target_id=str(refund_request.pk)
    )
    assert [e.outcome for e in entries] == ["success"]


@pytest.mark.django_db
def test_a_webhook_that_never_answers_is_given_up_and_recorded(
    agent, manager, webhook, django_capture_on_commit_callbacks
):
    webhook.statuses = [500] * 10
    with django_capture_on_commit_callbacks(execute=True):
        refund_request = refund_request_by(agent, make_payment())
    entry = AuditEntry.objects.get(
        action="approvals.notify.webhook", target_id=str(refund_request.pk)
    )
    assert entry.outcome == "failed"
    assert "500" in entry.params["error"]
    assert len(webhook.bodies) == 1 + 5  # the first try and five retries


@pytest.mark.django_db
def test_a_mail_server_that_never_answers_is_given_up_and_recorded(
    agent, manager, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    with django_capture_on_commit_callbacks(execute=True):
        refund_request = refund_request_by(agent, make_payment())
    assert refund_request.status == "requested"  # the request itself never waited for the mail
    entry = AuditEntry.objects.get(
        action="approvals.notify.email", target_id=str(refund_request.pk)
    )
    assert entry.outcome == "failed"
    assert "refused" in entry.params["error"].lower()


@pytest.mark.django_db
def test_the_daily_digest_lists_what_still_waits(
    agent, managers, django_capture_on_commit_callbacks
):
    waiting = [refund_request_by(agent, make_payment(), reason="private") for _ in range(2)]
    mail.outbox.clear()
    assert notifying.send_waiting_digest() == 2
    assert recipients() == sorted(m.email for m in managers)
    body = mail.outbox[0].body
    assert mail.outbox[0].subject == "2 requests waiting for approval"
    for item in waiting:
        assert f"/requests/{item.pk}/" in body
    assert "private" not in body
    assert AuditEntry.objects.filter(action="approvals.notify.digest").count() == 1


@pytest.mark.django_db
def test_no_digest_when_nothing_waits(managers):
    assert notifying.send_waiting_digest() == 0
    assert mail.outbox == []


def test_the_digest_is_scheduled_at_the_configured_time():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["approvals-waiting-digest"]
    hour, minute = settings.APPROVAL_DIGEST_TIME.split(":")
    assert entry["task"] == "apps.approvals.tasks.send_waiting_digest"
    assert entry["schedule"].hour == {int(hour)}
    assert entry["schedule"].minute == {int(minute)}


@pytest.mark.django_db
def test_a_request_nobody_can_be_told_about_is_recorded(agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        refund_request = refund_request_by(agent, make_payment())
    assert mail.outbox == []
    entry = AuditEntry.objects.get(action="approvals.notify.email")
    assert entry.target_id == str(refund_request.pk)
    assert entry.outcome == "failed"
