"""The typed parser: exactly the contract, with readable reasons."""

from __future__ import annotations

import json
import uuid

import pytest

from apps.events.schema import Event, MalformedEvent, UnknownEvent, parse_event
from tests.events.factories import account_event, payment_event, refund_event


def parse(event) -> Event | UnknownEvent:
    return parse_event(json.dumps(event).encode())


def test_each_known_type_parses_into_typed_data():
    account_id, payment_id, refund_id = (str(uuid.uuid4()) for _ in range(3))
    account = parse(
        account_event(account_id, 1, "account.created", currency="KWD", balance_cents=-1)
    )
    assert account.kind == "account"
    assert account.data.balance_cents == -1
    assert account.subject == uuid.UUID(account_id)
    payment = parse(payment_event(payment_id, 7, currency="JPY", amount_cents=1_200))
    assert (payment.sequence, payment.data.currency, payment.data.amount_cents) == (7, "JPY", 1_200)
    refund = parse(refund_event(refund_id, payment_id, 2, reference="abc"))
    assert refund.data.reference == "abc"
    assert refund.time.tzinfo is not None


def test_an_unknown_type_with_a_valid_envelope_is_unknown_not_malformed():
    event = payment_event(str(uuid.uuid4()), 1)
    event["type"] = "payment.disputed"
    event["data"] = {"anything": True}
    parsed = parse(event)
    assert isinstance(parsed, UnknownEvent)
    assert parsed.type == "payment.disputed"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.update(specversion="0.3"), "'specversion' must be \"1.0\""),
        (lambda e: e.update(id=""), "'id' must not be empty"),
        (lambda e: e.pop("source"), "missing field 'source'"),
        (lambda e: e.update(sequence=0), "'sequence' must be at least 1"),
        (lambda e: e.update(sequence=True), "'sequence' must be an integer"),
        (lambda e: e.update(sequence=3.0), "'sequence' must be an integer"),
        (lambda e: e.update(time="2026-11-24T10:15:02"), "with a timezone"),
        (lambda e: e.update(time="2026-11-24"), "with a timezone"),
        (lambda e: e.update(subject=str(uuid.uuid4())), "differs from the payment id"),
        (lambda e: e.update(data="{}"), "'data' must be an object"),
        (lambda e: e["data"].update(currency="eur"), "not an ISO 4217 currency"),
        (lambda e: e["data"].update(amount_cents=0), "'amount_cents' must be at least 1"),
        (lambda e: e["data"].update(status="paid"), "'status' must be one of"),
        (lambda e: e["data"].pop("merchant_reference"), "missing field 'merchant_reference'"),
        (lambda e: e["data"].update(account_id="42"), "'account_id' is not a UUID"),
        (lambda e: e["data"].update(updated_at="soon"), "'updated_at' is not an RFC 3339"),
        (lambda e: e["data"].update(description=7), "'description' must be a string"),
    ],
)
def test_malformed_events_are_refused_with_a_reason(change, reason):
    event = payment_event(str(uuid.uuid4()), 1)
    change(event)
    with pytest.raises(MalformedEvent, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse(event)


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"\xff\xfe", "not UTF-8|not JSON"), (b"[1,2]", "not an object"), (b"", "not JSON")],
)
def test_bodies_that_are_not_json_objects(body, reason):
    with pytest.raises(MalformedEvent, match=reason):
        parse_event(body)


def test_extra_fields_are_tolerated_for_forward_compatibility():
    event = account_event(str(uuid.uuid4()), 1)
    event["traceparent"] = "00-abc"
    event["data"]["loyalty_tier"] = "gold"
    assert parse(event).data.owner_name == "Grace Hopper"
