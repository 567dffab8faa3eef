"""Each role's start page in Chromium, with a month of data behind its figures and charts,
and the header's search box driven from the keyboard.

With ``PORTAL_UPDATE_SCREENSHOTS=1`` the three start pages replace the ones
in ``docs/screenshots/`` that the README's tour shows.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from apps.approvals import services
from apps.approvals.models import RefundRequest
from apps.audit.models import AuditEntry
from apps.audit.services import Actor, Outcome, record, verify_chain
from apps.events.models import IntakeCounter, IntakeHeartbeat
from apps.payments.models import Refund, RefundStatus
from tests.approvals.conftest import make_account, make_payment, refund_request_by
from tests.conftest import sign_in_browser, watch_page
from tests.e2e.test_journeys import VIEWPORT, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def month_of_work(agent, manager, other_manager, settings):
    """Refund requests over 30 days in two currencies, decided and executed; an action log."""
    cache.clear()  # past days' chart sums are cached: an earlier test's would hide these
    settings.REFUND_APPROVAL_THRESHOLDS = "EUR:300"
    rng = random.Random(17)
    now = timezone.now()
    # A month of the action log, oldest first (the chain grows with time), written by record().
    actor = Actor.system("demo")
    for day in range(29, 0, -1):
        for minute in range(rng.randint(40, 90)):
            outcome = rng.choices(
                [Outcome.SUCCESS, Outcome.REJECTED, Outcome.FAILED], weights=[90, 7, 3]
            )[0]
            with mock.patch("apps.audit.services.recording.timezone.now") as clock:
                clock.return_value = now - timedelta(days=day, minutes=-minute)
                record(action="refund.request", actor=actor, outcome=outcome)
    for day in range(29, -1, -1):
        for _ in range(rng.randint(1, 3)):
            currency = rng.choice(["EUR", "EUR", "GBP"])
            payment = make_payment(currency=currency, amount_cents=50_000)
            cents = rng.randint(10, 250) * 100
            refund_request = refund_request_by(agent, payment, amount_cents=cents)
            when = now - timedelta(days=day, hours=rng.randint(0, 3))
            if day == 0:
                continue  # today's stay waiting
            services.approve_request(
                approval_request=refund_request,
                approver=manager,
                comment="ok",
                authenticated_at=timezone.now(),
            )
            RefundRequest.objects.filter(pk=refund_request.pk).update(
                requested_at=when,
                decided_at=when + timedelta(hours=2),
                status="succeeded",
            )
            Refund.objects.create(
                refund_id=uuid.uuid4(),
                payment_id=payment.payment_id,
                amount_cents=cents,
                currency=currency,
                status=RefundStatus.SUCCEEDED,
                created_at=when + timedelta(hours=3),
                updated_at=when + timedelta(hours=3),
                sequence=1,
                synced_at=now,
                reference=str(refund_request.pk),
            )
    # One waiting for a second manager, and the oldest waiting past the target.
    big = refund_request_by(agent, make_payment(amount_cents=90_000), amount_cents=45_000)
    services.approve_request(
        approval_request=big, approver=other_manager, comment="ok", authenticated_at=now
    )
    RefundRequest.objects.filter(pk=big.pk).update(requested_at=now - timedelta(hours=6))
    for _ in range(3):
        record(action="access.denied", actor=actor, outcome=Outcome.REJECTED)
    record(action="identity.sign_in_failed", actor=actor, outcome=Outcome.FAILED)
    record(action="payments.export", actor=actor)
    verify_chain(full=True)
    verify_chain()
    # The intake as a running worker leaves it: a heartbeat and counters per source.
    IntakeHeartbeat.objects.create(
        consumer="worker-1:4242", seen_at=now, last_batch_at=now, last_batch_lag_seconds=0.8
    )
    for source, seconds in (("payments-service", 2), ("accounts-service", 41)):
        IntakeCounter.objects.create(
            source=source,
            received=5_000,
            applied=5_000,
            newest_applied_at=now - timedelta(seconds=seconds),
        )


def open_start_page(browser, live_server, user):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems = watch_page(page)
    sign_in_browser(page, live_server, user)
    page.goto(live_server.url + "/")
    return page, problems


def test_each_role_lands_on_its_answers(
    browser, live_server, month_of_work, agent, manager, auditor
):
    page, agent_problems = open_start_page(browser, live_server, agent)
    payment = make_payment(merchant_reference="ORD-2026-1187")
    account = make_account(owner_name="Grace Hopper")
    page.goto(f"{live_server.url}/payments/{payment.payment_id}/")
    page.goto(f"{live_server.url}/accounts/{account.account_id}/")
    page.goto(live_server.url + "/")
    expect(page.locator("#card-workspacerecent li").first).to_contain_text("Grace Hopper")
    requests = page.locator("#card-approvalsrequester")
    waiting = RefundRequest.objects.filter(requested_by=agent, status="requested").count()
    expect(requests.locator(".figure", has_text="open")).to_contain_text(str(waiting))
    expect(requests.locator(".request-status").first).to_contain_text("Waiting")
    screenshot(page, "start-agent")

    page, manager_problems = open_start_page(browser, live_server, manager)
    approvals = page.locator("#card-approvalsmanager")
    expect(approvals.locator(".figure", has_text="second manager")).to_contain_text("1")
    expect(approvals.locator(".figure--bad")).to_contain_text("6 h")
    expect(approvals.locator("svg.chart__svg")).to_have_count(2)  # EUR and GBP
    expect(approvals.get_by_role("img", name=re.compile("Refunds in EUR per day"))).to_be_visible()
    screenshot(page, "start-manager")
    approvals.locator(".figure", has_text="second manager").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/requests/queue/\?waiting=second$"))
    expect(page.locator(".request-card")).to_have_count(1)

    page, auditor_problems = open_start_page(browser, live_server, auditor)
    log = page.locator("#card-auditauditor")
    expect(log.locator(".figure", has_text="chain status")).to_contain_text("intact")
    expect(log.locator(".figure", has_text="denied")).to_contain_text("3")
    expect(log.get_by_role("img", name="Actions per day by outcome")).to_be_visible()
    screenshot(page, "start-auditor")
    log.get_by_text("Figures as a table").click()
    expect(log.locator(".chart__figures table")).to_be_visible()

    for problems in (agent_problems, manager_problems, auditor_problems):
        assert problems(origin=live_server.url) == [], problems()


def test_slash_finds_any_id_from_anywhere(page, page_watch, live_server, agent):
    account = make_account(owner_email="grace@example.com")
    payment = make_payment(account_id=account.account_id)
    sign_in_browser(page, live_server, agent)
    page.goto(live_server.url + "/")
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name=re.compile("Find a record"))).to_be_focused()
    page.keyboard.type(str(payment.payment_id)[:8])
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/payments/{payment.payment_id}/")

    # On a list, "/" is the list's own filter; a second "/" moves on to the header's box.
    page.goto(live_server.url + "/accounts/")
    page.keyboard.press("/")
    expect(page.locator("main input[type=search]")).to_be_focused()
    page.keyboard.press("/")
    header = page.get_by_role("searchbox", name=re.compile("Find a record"))
    expect(header).to_be_focused()
    header.fill("Grace@example.com")
    header.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/accounts/{account.account_id}/")
    assert page_watch(origin=live_server.url) == []
    assert AuditEntry.objects.filter(action="access.denied").count() == 0
