"""The Go stand-in over real HTTP, publishing to a real RabbitMQ exchange."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx
import pytest
from django.conf import settings
from kombu import Connection, Exchange, Queue

from devtools.standin.server import start_standin
from devtools.standin.traffic import generate_traffic
from tests.events.conftest import Bus

pytestmark = pytest.mark.broker

PAYMENTS = {"Authorization": "Bearer payments-token"}
ACCOUNTS = {"Authorization": "Bearer accounts-token"}


class Tap:
    """A private queue bound to the stand-in's exchange: what it published, in order."""

    def __init__(self, broker_url: str, exchange: str) -> None:
        self.connection = Connection(broker_url)
        self.queue = Queue(
            f"tap.{uuid.uuid4().hex[:8]}",
            Exchange(exchange, type="topic", durable=True),
            routing_key="#",
            auto_delete=True,
            exclusive=True,
        )
        self.queue(self.connection.default_channel).declare()

    def events(self, *, wait_for: int, timeout: float = 5.0) -> list[dict]:
        found: list[dict] = []
        deadline = time.monotonic() + timeout
        bound = self.queue(self.connection.default_channel)
        while len(found) < wait_for and time.monotonic() < deadline:
            message = bound.get(no_ack=True)
            if message is None:
                time.sleep(0.02)
                continue
            found.append(json.loads(message.body))
        return found


@pytest.fixture
def world():
    bus = Bus(settings.CELERY_BROKER_URL)
    tap = Tap(bus.broker_url, bus.exchange)
    running = start_standin(broker_url=bus.broker_url, exchange=bus.exchange, seed=1)
    yield running, tap
    running.stop()
    tap.connection.release()
    bus.delete()


def refund(url, payment_id, key, *, amount=500, currency="EUR", headers=PAYMENTS, timeout=5.0):
    return httpx.post(
        f"{url}/v1/payments/{payment_id}/refunds",
        json={
            "amount_cents": amount,
            "currency": currency,
            "reason": "duplicate charge",
            "reference": "req-1",
        },
        headers={**headers, "Idempotency-Key": key, "X-Request-ID": "test-1"},
        timeout=timeout,
    )


def test_a_refund_is_accepted_and_its_events_follow_with_increasing_sequences(world):
    running, tap = world
    account = running.services.create_account(currency="EUR")
    payment = running.services.create_payment(
        account_id=account.account_id, currency="EUR", amount_cents=2_000, status="settled"
    )
    assert len(tap.events(wait_for=4)) == 4  # account created; payment created, authorized, settled
    response = refund(running.url, payment.payment_id, "key-1")
    assert response.status_code == 202
    refund_id = response.json()["refund_id"]
    assert response.json()["status"] == "pending"
    events = tap.events(wait_for=3)
    assert [e["type"] for e in events] == ["refund.created", "refund.updated", "payment.updated"]
    assert events[0]["data"]["reference"] == "req-1"
    assert events[0]["subject"] == refund_id
    assert [e["sequence"] for e in events[:2]] == [1, 2]
    assert events[1]["data"]["status"] == "succeeded"
    assert events[2]["data"]["refunded_cents"] == 500
    assert events[2]["data"]["status"] == "partially_refunded"
    assert events[2]["sequence"] == 4


def test_authentication_is_required(world):
    running, _ = world
    payment = running.services.create_payment()
    assert refund(running.url, payment.payment_id, "k", headers={}).status_code == 401
    wrong = refund(running.url, payment.payment_id, "k", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "unauthorized"
    assert refund(running.url, payment.payment_id, "k", headers=ACCOUNTS).status_code == 401


def test_the_same_key_replays_and_a_reused_key_with_another_body_conflicts(world):
    running, _ = world
    payment = running.services.create_payment(amount_cents=2_000, currency="EUR")
    first = refund(running.url, payment.payment_id, "same-key")
    again = refund(running.url, payment.payment_id, "same-key")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert running.services.effect_count("same-key") == 1
    other = refund(running.url, payment.payment_id, "same-key", amount=600)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        (lambda s: str(uuid.uuid4()), 404, "payment_not_found"),
        (lambda s: s.create_payment(status="pending").payment_id, 409, "not_refundable"),
        (
            lambda s: s.create_payment(amount_cents=100, currency="EUR").payment_id,
            409,
            "amount_exceeds_refundable",
        ),
    ],
)
def test_final_refusals_follow_the_contract(world, setup, status, code):
    running, _ = world
    response = refund(running.url, setup(running.services), "k-" + code)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message"}


def test_a_missing_key_or_a_bad_body_is_invalid(world):
    running, _ = world
    payment = running.services.create_payment(currency="EUR")
    no_key = httpx.post(
        f"{running.url}/v1/payments/{payment.payment_id}/refunds", json={}, headers=PAYMENTS
    )
    assert (no_key.status_code, no_key.json()["code"]) == (422, "invalid_request")
    wrong_currency = refund(running.url, payment.payment_id, "k2", currency="JPY")
    assert (wrong_currency.status_code, wrong_currency.json()["code"]) == (422, "invalid_request")


def test_injected_5xx_then_success_has_one_effect_even_when_the_failed_call_applied(world):
    running, _ = world
    payment = running.services.create_payment(amount_cents=5_000, currency="EUR")
    running.services.faults.update({"fail_next": [503], "apply_on_failure": True})
    assert refund(running.url, payment.payment_id, "flaky").status_code == 503
    assert running.services.effect_count("flaky") == 1
    assert refund(running.url, payment.payment_id, "flaky").status_code == 202
    assert running.services.effect_count("flaky") == 1


def test_a_timeout_whose_effect_happened_is_safe_to_retry(world):
    running, _ = world
    payment = running.services.create_payment(amount_cents=5_000, currency="EUR")
    running.services.faults.update(
        {"timeout_next": 1, "timeout_seconds": 1.0, "apply_on_failure": True}
    )
    with pytest.raises(httpx.TimeoutException):
        refund(running.url, payment.payment_id, "slow", timeout=0.3)
    # The first call is still running on the service's side: the same key is "in use".
    in_use = refund(running.url, payment.payment_id, "slow")
    assert (in_use.status_code, in_use.json()["code"]) == (409, "idempotency_key_in_use")
    time.sleep(1.0)
    assert refund(running.url, payment.payment_id, "slow").status_code == 202
    assert running.services.effect_count("slow") == 1


def test_a_trickled_answer_comes_whole_and_a_concurrent_call_with_its_key_is_in_use(world):
    running, _ = world
    payment = running.services.create_payment(amount_cents=5_000, currency="EUR")
    httpx.post(f"{running.url}/_standin/faults", json={"trickle_next": 1, "trickle_seconds": 1.5})
    answers: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(refund(running.url, payment.payment_id, "trickle"))
    )
    started = time.monotonic()
    slow.start()
    time.sleep(0.5)  # the 202 is on its way, a byte at a time
    in_use = refund(running.url, payment.payment_id, "trickle")
    slow.join()
    assert time.monotonic() - started >= 1.4
    assert (answers[0].status_code, answers[0].json()["status"]) == (202, "pending")
    assert (in_use.status_code, in_use.json()["code"]) == (409, "idempotency_key_in_use")
    traffic = httpx.get(
        f"{running.url}/_standin/effects", params={"idempotency_key": "trickle"}
    ).json()
    assert traffic == {"effects": 1, "calls": 2, "in_flight": 0, "max_in_flight": 2}
    # Once the first call is done, the same key replays its answer.
    assert refund(running.url, payment.payment_id, "trickle").json() == answers[0].json()


def test_a_client_that_hangs_up_mid_body_is_no_longer_in_flight(world):
    running, _ = world
    payment = running.services.create_payment(amount_cents=5_000, currency="EUR")
    running.services.faults.update({"trickle_next": 1, "trickle_seconds": 60})
    body = {
        "amount_cents": 500,
        "currency": "EUR",
        "reason": "duplicate charge",
        "reference": "req-1",
    }
    request = {"json": body, "headers": {**PAYMENTS, "Idempotency-Key": "hang-up"}}
    url = f"{running.url}/v1/payments/{payment.payment_id}/refunds"
    with httpx.stream("POST", url, **request) as response:
        assert response.status_code == 202  # headers at once; we hang up during the body
    deadline = time.monotonic() + 0.5  # a byte every 0.9 s: noticed before the next write
    while running.services.key_traffic("hang-up").in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.services.key_traffic("hang-up").in_flight == 0
    assert httpx.post(url, **request).json() == {
        "refund_id": next(iter(running.services.refunds)),
        "status": "pending",
    }


def test_freeze_and_unfreeze_publish_the_account(world):
    running, tap = world
    account = running.services.create_account()
    tap.events(wait_for=1)
    url = f"{running.url}/v1/accounts/{account.account_id}"
    body = {"reason": "suspected fraud", "reference": "f-1"}
    frozen = httpx.post(f"{url}/freeze", json=body, headers={**ACCOUNTS, "Idempotency-Key": "f-1"})
    assert frozen.json() == {"account_id": account.account_id, "status": "frozen"}
    assert tap.events(wait_for=1)[0]["data"]["status"] == "frozen"
    again = httpx.post(f"{url}/freeze", json=body, headers={**ACCOUNTS, "Idempotency-Key": "f-2"})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    thawed = httpx.post(
        f"{url}/unfreeze", json=body, headers={**ACCOUNTS, "Idempotency-Key": "f-3"}
    )
    assert thawed.json()["status"] == "active"


def test_admin_endpoints_set_faults_and_create_data(world):
    running, _ = world
    faults = httpx.post(f"{running.url}/_standin/faults", json={"latency_ms": 5}).json()
    assert faults["latency_ms"] == 5
    bad = httpx.post(f"{running.url}/_standin/faults", json={"nonsense": 1})
    assert bad.status_code == 422
    payment = httpx.post(
        f"{running.url}/_standin/payments", json={"currency": "JPY", "amount_cents": 1200}
    ).json()
    assert (payment["currency"], payment["status"]) == ("JPY", "settled")


def test_generated_traffic_is_deterministic_and_knows_the_ground_truth():
    first = generate_traffic(
        aggregates=50, events=300, duplicate_rate=0.1, reorder_rate=0.1, malformed_rate=0.05, seed=3
    )
    second = generate_traffic(
        aggregates=50, events=300, duplicate_rate=0.1, reorder_rate=0.1, malformed_rate=0.05, seed=3
    )
    assert [m.body for m in first.messages] == [m.body for m in second.messages]
    assert first.valid_events == 300
    assert len(first.messages) == 300 + first.duplicates + first.malformed
    assert first.duplicates == 30
    assert first.malformed == 15
    assert sum(len(v) for v in first.expected_state().values()) == 50
    # The ground truth is the highest sequence of each subject, whatever the order.
    for kind, subjects in first.expected_sequences().items():
        for subject, sequence in subjects.items():
            assert first.expected_state()[kind][subject] is not None
            assert sequence >= 1


def test_a_second_run_takes_back_the_first_runs_data_and_its_idempotency_keys(world):
    """The demo keeps the stand-in's data between runs, as it keeps the portal's database."""
    running, _ = world
    payment = running.services.create_payment(status="settled", currency="EUR", amount_cents=9_000)
    assert refund(running.url, payment.payment_id, "key-A", amount=1_000).status_code == 202
    time.sleep(0.6)  # the refund settles
    saved = json.loads(json.dumps(running.services.snapshot()))  # as written to the state file

    bus = Bus(settings.CELERY_BROKER_URL)
    second = start_standin(broker_url=bus.broker_url, exchange=bus.exchange, seed=2)
    try:
        second.services.restore(saved)
        again = refund(second.url, payment.payment_id, "key-A", amount=1_000)
        assert again.status_code == 202  # replayed, not applied twice
        assert second.services.effect_count("key-A") == 1
        restored = second.services.payments[payment.payment_id]
        assert restored.refunded_cents == 1_000
        before = restored.sequence
        assert refund(second.url, payment.payment_id, "key-B", amount=500).status_code == 202
        time.sleep(0.6)
        assert second.services.payments[payment.payment_id].sequence > before  # sequences go on
    finally:
        second.stop()
        bus.delete()
