"""The three users' journeys in headless Chromium, against the whole system.

Everything is real: people sign in through the development IdP; the Go
stand-in serves its HTTP API and publishes events to RabbitMQ; a Celery
worker (subprocess) runs the event intake and the outbound calls; the
portal is Django's live server. A refund goes agent → manager → stand-in →
event → read model, and the auditor then finds every step in the action log.

Screenshots land in ``test-results/``; with ``PORTAL_UPDATE_SCREENSHOTS=1``
they also replace the ones in ``docs/screenshots/`` that the README shows.
"""

from __future__ import annotations

import os
import re
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from kombu import Connection
from playwright.sync_api import expect

from apps.approvals.models import RefundRequest, RequestStatus
from apps.audit.models import AuditEntry
from apps.events.intake import declare_topology
from apps.payments.models import Payment
from devtools.standin.server import start_standin
from tests.conftest import ARTIFACTS, watch_page
from tests.dev_idp import sign_in_through_idp
from tests.events.conftest import start_worker, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.django_db(transaction=True)]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 900}


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True, caret="initial")
    if os.environ.get("PORTAL_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(DOCS_SCREENSHOTS / f"{name}.png"), full_page=False, caret="initial"
        )


@dataclass
class World:
    standin: object
    worker: object
    bus: object

    def settled_payment(self, **fields) -> Payment:
        """A payment made at the stand-in, once its events have reached the read model."""
        account = self.standin.services.create_account(currency=fields.get("currency", "EUR"))
        remote = self.standin.services.create_payment(
            status="settled", account_id=account.account_id, **fields
        )
        try:
            wait_until(
                lambda: Payment.objects.filter(pk=remote.payment_id, status="settled").exists(),
                timeout=60,
            )
        except AssertionError:
            from apps.events.models import ReceivedEvent

            raise AssertionError(
                f"payment {remote.payment_id} not in the read model after 60 s; "
                f"{ReceivedEvent.objects.count()} events received, "
                f"{self.bus.ready_messages()} waiting in the queue"
            ) from None
        return Payment.objects.get(pk=remote.payment_id)


@pytest.fixture
def world(bus, settings):
    """The Go stand-in and a worker with the event intake, all on this test's private bus."""
    # The portal's queue and its bindings exist before anything is published (as compose
    # orders it); the worker's intake declares the same topology again, idempotently.
    with Connection(bus.broker_url) as conn:
        declare_topology(conn, conn.default_channel, bus.config())
    standin = start_standin(broker_url=bus.broker_url, exchange=bus.exchange, seed=7)
    ARTIFACTS.mkdir(exist_ok=True)
    worker = start_worker(
        bus,
        log_path=ARTIFACTS / f"journey-worker-{uuid.uuid4().hex[:6]}.log",
        extra_env={
            "PAYMENTS_API_URL": standin.url,
            "PAYMENTS_API_TOKEN": "payments-token",
            "ACCOUNTS_API_URL": standin.url,
            "ACCOUNTS_API_TOKEN": "accounts-token",
        },
    )
    try:
        yield World(standin=standin, worker=worker, bus=bus)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except Exception:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        standin.stop()


def nav(page):
    return page.get_by_role("navigation", name="Main")


def person(browser, live_server, username: str):
    """A separate browser (own cookies) signed in through the IdP, with its problems watched."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    problems = watch_page(page)
    sign_in_through_idp(page, live_server, username)
    expect(page).to_have_url(live_server.url + "/")
    return page, problems


def test_agent_manager_and_auditor_journeys(browser, live_server, sso, world):
    payment = world.settled_payment(currency="EUR", amount_cents=12_900)
    short_id = str(payment.payment_id)[:8]

    # --- Support agent: find the payment by a partial id, request a partial refund.
    agent, agent_problems = person(browser, live_server, "alice")
    nav(agent).get_by_role("link", name="Payments").click()
    agent.get_by_label("Search").fill(short_id)
    expect(agent.locator(".results__count")).to_contain_text("1 payment")
    agent.locator(f"[data-href='/payments/{payment.payment_id}/']").get_by_role(
        "link"
    ).first.click()
    expect(agent.get_by_role("heading", name=re.compile("Payment"))).to_be_visible()

    agent.get_by_text("Request refund…").click()
    agent.get_by_label("Amount to refund (EUR)").fill("200")
    expect(agent.locator("#amount-feedback")).to_contain_text("At most €129.00")
    agent.get_by_label("Amount to refund (EUR)").fill("40.50")
    expect(agent.locator("#amount-feedback")).to_contain_text("Refunds €40.50")
    agent.get_by_label("Category").select_option("duplicate_charge")
    agent.get_by_label("Reason").fill("The customer was charged twice for the same order.")
    screenshot(agent, "agent-request-refund")
    agent.get_by_role("button", name="Request refund", exact=True).click()
    expect(agent.locator("#payment-requests")).to_contain_text("Waiting for approval")
    expect(agent.get_by_text("Refund requested.")).to_be_visible()
    refund_request = RefundRequest.objects.get(payment_id=payment.payment_id)
    assert refund_request.amount_cents == 4_050
    screenshot(agent, "agent-refund-pending")

    # --- Manager: the badge, the queue, the approval; the stand-in executes, the event returns.
    manager, manager_problems = person(browser, live_server, "mark")
    expect(manager.locator("#nav-badge-approvals-queue")).to_contain_text("1")
    nav(manager).get_by_role("link", name=re.compile("^Approvals")).click()
    card = manager.locator(f"#request-{refund_request.pk}")
    expect(card).to_contain_text("The customer was charged twice for the same order.")
    expect(card).to_contain_text("Alice Agent")
    card.get_by_text("Approve…").click()
    card.get_by_label(re.compile("Comment")).fill("Checked the statement: duplicate charge.")
    screenshot(manager, "manager-approval-queue")
    card.get_by_role("button", name=re.compile("Confirm approval of €40.50")).click()
    expect(card).to_contain_text("Approved and sent to the service")
    expect(manager.locator("#nav-badge-approvals-queue")).to_be_hidden()

    # The agent's open page follows the request live, without a reload.
    expect(agent.locator("#payment-requests")).to_contain_text("Succeeded", timeout=60_000)
    refund_request.refresh_from_db()
    assert refund_request.status == RequestStatus.SUCCEEDED
    manager.goto(f"{live_server.url}/payments/{payment.payment_id}/")
    expect(manager.locator(".facts").first).to_contain_text("€40.50")  # refunded so far
    expect(manager.locator("#payment-requests")).to_contain_text("Succeeded")
    screenshot(manager, "payment-after-refund")
    nav(agent).get_by_role("link", name="My requests").click()
    expect(agent.locator("#my-requests")).to_contain_text("Succeeded")
    screenshot(agent, "agent-my-requests")

    # --- Auditor: the whole story of that payment in the action log; verify; export.
    auditor, auditor_problems = person(browser, live_server, "olga")
    nav(auditor).get_by_role("link", name="Action log").click()
    auditor.get_by_label("Search").fill(str(payment.payment_id))
    expect(auditor).to_have_url(re.compile(rf"q={payment.payment_id}"))
    # Exactly the story of this payment: nobody's sign-in, nothing about other payments.
    expect(auditor.locator(".results__count")).to_contain_text("4 entries")
    story = [
        "refund.request",
        "refund.approve",
        "refund.submit",
        "refund.settle",
    ]
    for action in story:
        expect(auditor.locator("#results")).to_contain_text(action)
    shown = auditor.locator("#results tbody tr").all_inner_texts()
    positions = [next(i for i, row in enumerate(shown) if action in row) for action in story]
    assert positions == sorted(positions, reverse=True), shown  # newest first: the story reversed
    screenshot(auditor, "auditor-action-log")
    auditor.get_by_role("button", name="Verify the whole log now").click()
    # The worker verifies in the background; the panel's live update has its own test
    # (tests/audit/test_action_log_view.py), here the result is read after a reload.
    wait_until(lambda: AuditEntry.objects.filter(action="audit.verify").exists(), timeout=30)
    auditor.reload()
    expect(auditor.locator(".chain-status")).to_contain_text("intact")
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Export CSV").click()
    exported = Path(download.value.path()).read_text()
    for action in story:
        assert action in exported
    assert AuditEntry.objects.filter(action="audit.export").exists()

    for problems in (agent_problems, manager_problems, auditor_problems):
        assert problems(origin=live_server.url) == [], problems()


def test_the_refusals_agents_cannot_decide_and_auditors_see_no_action_buttons(
    browser, live_server, sso, agent
):
    from tests.approvals.conftest import make_account, make_payment, refund_request_by

    account = make_account()
    payment = make_payment(account_id=account.account_id)
    pending = refund_request_by(agent, payment)

    alice, alice_problems = person(browser, live_server, "alice")
    expect(nav(alice).get_by_role("link", name=re.compile("^Approvals"))).to_have_count(0)
    alice.goto(f"{live_server.url}/requests/queue/")
    expect(alice.get_by_text("have access to this")).to_be_visible()
    screenshot(alice, "agent-refused-queue")

    olga, olga_problems = person(browser, live_server, "olga")
    for path in (
        f"/payments/{payment.payment_id}/",
        f"/accounts/{account.account_id}/",
        f"/requests/{pending.pk}/",
    ):
        olga.goto(live_server.url + path)
        expect(olga.locator("main")).to_be_visible()
        assert olga.locator("main form[method=post]").count() == 0, path
        for label in ("Approve…", "Reject…", "Request refund…", "Request freeze…"):
            expect(olga.get_by_text(label)).to_have_count(0)
    # The only error the agent's browser reports is the 403 answer itself.
    assert [p for p in alice_problems(origin=live_server.url) if "403 (Forbidden)" not in p] == []
    assert olga_problems(origin=live_server.url) == []
