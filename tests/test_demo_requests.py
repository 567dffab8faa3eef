"""The demo's own requests: made through the services, only once, with work for every role."""

from __future__ import annotations

import pytest

from apps.approvals.models import FreezeRequest, RefundRequest, RequestStatus
from apps.audit.models import AuditEntry
from devtools import demo_requests
from tests.approvals.conftest import make_account, make_payment
from tests.audit.conftest import digests_on  # noqa: F401 — signed digests for one test

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_models(settings):
    settings.REFUND_APPROVAL_THRESHOLDS = "EUR:250,USD:250,GBP:200,JPY:30000"
    for index in range(4):
        make_payment(currency="EUR", amount_cents=8_000 + index)
    make_payment(currency="EUR", amount_cents=45_000)
    for currency in ("JPY", "USD", "GBP"):
        make_payment(currency=currency, amount_cents=9_000)
    make_account()


def test_the_demo_requests_give_every_role_something_to_see(read_models):
    summary = demo_requests.seed()
    assert "waiting for a manager" in summary
    waiting = RefundRequest.objects.filter(status=RequestStatus.REQUESTED)
    assert waiting.count() >= 4
    assert waiting.filter(required_approvals=2).count() == 1  # above the threshold
    assert RefundRequest.objects.filter(status=RequestStatus.REJECTED).count() == 1
    assert RefundRequest.objects.filter(status=RequestStatus.APPROVED).count() == 1
    assert FreezeRequest.objects.filter(status=RequestStatus.REQUESTED).count() == 1
    assert (
        AuditEntry.objects.filter(action="refund.request").count() == RefundRequest.objects.count()
    )


def test_a_second_run_adds_nothing(read_models):
    demo_requests.seed()
    before = (RefundRequest.objects.count(), FreezeRequest.objects.count())
    assert demo_requests.seed() == "the demo requests are already there"
    assert (RefundRequest.objects.count(), FreezeRequest.objects.count()) == before


@pytest.mark.usefixtures("digests_on")
def test_the_demo_signs_its_first_digest_once(read_models):
    assert "signed digest #1" in demo_requests.first_digest()
    assert demo_requests.first_digest() == "signed digests: already written"
