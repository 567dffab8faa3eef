"""Realistic event traffic with the faults a real bus has: duplicates, reordering, malformed messages.

``generate_traffic`` is deterministic for a seed and knows the ground truth:
``Traffic.expected_state()`` is what the read models must hold once every
message has been consumed, whatever the order.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.standin.events import (
    AccountState,
    PaymentState,
    RefundState,
    next_event,
)

CURRENCIES = (
    ("EUR", 40),
    ("USD", 25),
    ("GBP", 12),
    ("JPY", 10),
    ("CHF", 5),
    ("SEK", 4),
    ("KWD", 4),
)
EXPONENT = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "CHF": 2, "SEK": 2, "KWD": 3}
# A typical purchase in major units, per currency.
PRICE_RANGE = {
    "EUR": (5, 400),
    "USD": (5, 450),
    "GBP": (4, 350),
    "JPY": (500, 60_000),
    "CHF": (5, 400),
    "SEK": (50, 4_000),
    "KWD": (1, 120),
}
FIRST = (
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Ken",
    "Radia",
    "Tim",
    "Sophie",
    "Yuki",
    "Ahmed",
    "Lucia",
    "Mateo",
    "Priya",
    "Noor",
    "Olga",
)
LAST = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Backus",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Wilson",
    "Tanaka",
    "Haddad",
    "Romero",
    "García",
    "Sharma",
    "Khalil",
    "Petrova",
)
ITEMS = (
    "Annual plan",
    "Monthly plan",
    "Order",
    "Top-up",
    "Booking",
    "Ticket",
    "Subscription",
    "Invoice",
)


@dataclass(frozen=True)
class OutgoingMessage:
    routing_key: str
    body: bytes
    content_type: str
    event: dict[str, Any] | None  # None for a deliberately malformed message


@dataclass
class Traffic:
    messages: list[OutgoingMessage] = field(default_factory=list)
    valid_events: int = 0
    duplicates: int = 0
    reordered: int = 0
    malformed: int = 0

    def expected_state(self) -> dict[str, dict[str, dict[str, Any]]]:
        """For each kind, the data of the highest sequence per subject among valid events."""
        best: dict[tuple[str, str], dict[str, Any]] = {}
        for message in self.messages:
            event = message.event
            if event is None:
                continue
            key = (event["type"].split(".")[0], event["subject"])
            if key not in best or event["sequence"] > best[key]["sequence"]:
                best[key] = event
        state: dict[str, dict[str, dict[str, Any]]] = {"account": {}, "payment": {}, "refund": {}}
        for (kind, subject), event in best.items():
            state[kind][subject] = event["data"]
        return state

    def expected_sequences(self) -> dict[str, dict[str, int]]:
        state: dict[str, dict[str, int]] = {"account": {}, "payment": {}, "refund": {}}
        for message in self.messages:
            if message.event is not None:
                kind = message.event["type"].split(".")[0]
                subject = message.event["subject"]
                state[kind][subject] = max(state[kind].get(subject, 0), message.event["sequence"])
        return state


def _message(event: dict[str, Any]) -> OutgoingMessage:
    body = json.dumps(event, separators=(",", ":")).encode()
    return OutgoingMessage(event["type"], body, "application/cloudevents+json", event)


class _World:
    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.now = start

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def event(self, state, *, created: bool) -> dict[str, Any]:
        return next_event(state, created=created, now=self.tick(), event_id=self.uid())

    def tick(self) -> datetime:
        self.now += timedelta(milliseconds=self.rng.randint(1, 400))
        return self.now

    def currency(self) -> str:
        codes, weights = zip(*CURRENCIES, strict=True)
        return self.rng.choices(codes, weights)[0]

    def amount(self, currency: str) -> int:
        low, high = PRICE_RANGE[currency]
        major = self.rng.uniform(low, high)
        return max(1, round(major * 10 ** EXPONENT[currency]))

    def account(self) -> AccountState:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        return AccountState(
            account_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            owner_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            owner_name=f"{first} {last}",
            owner_email=f"{first}.{last}.{self.rng.randint(1, 9999)}@example.com".lower().replace(
                " ", ""
            ),
            currency=self.currency(),
            balance_cents=0,
        )


def _account_events(world: _World, account: AccountState, count: int) -> list[dict[str, Any]]:
    events = [world.event(account, created=True)]
    for _ in range(count - 1):
        roll = world.rng.random()
        if roll < 0.08 and account.status == "active":
            account.status = "frozen"
        elif roll < 0.16 and account.status == "frozen":
            account.status = "active"
        else:
            account.balance_cents += world.rng.randint(-5_000, 20_000)
        events.append(world.event(account, created=False))
    return events


def _payment_events(world: _World, payment: PaymentState, count: int) -> list[dict[str, Any]]:
    events = [world.event(payment, created=True)]
    path = ["authorized", "settled"] if world.rng.random() > 0.08 else ["failed"]
    for step in range(count - 1):
        if step < len(path):
            payment.status = path[step]
        elif (
            payment.status in ("settled", "partially_refunded")
            and payment.refunded_cents < payment.amount_cents
        ):
            refund = max(
                1, min(payment.amount_cents - payment.refunded_cents, payment.amount_cents // 3)
            )
            payment.refunded_cents += refund
            payment.status = (
                "refunded"
                if payment.refunded_cents == payment.amount_cents
                else "partially_refunded"
            )
        else:
            payment.description = f"{payment.description} (updated)"[:200]
        events.append(world.event(payment, created=False))
    return events


def _refund_events(world: _World, refund: RefundState, count: int) -> list[dict[str, Any]]:
    events = [world.event(refund, created=True)]
    for step in range(count - 1):
        if step == 0:
            if world.rng.random() < 0.9:
                refund.status = "succeeded"
            else:
                refund.status, refund.failure_reason = "failed", "card expired"
        else:
            refund.failure_reason = refund.failure_reason or ""
        events.append(world.event(refund, created=False))
    return events


MALFORMED_KINDS = (
    "not_json",
    "not_object",
    "missing_id",
    "bad_uuid",
    "bad_currency",
    "bad_time",
    "bad_sequence",
)


def _malformed(world: _World, template: dict[str, Any], index: int) -> OutgoingMessage:
    kind = MALFORMED_KINDS[index % len(MALFORMED_KINDS)]
    event = json.loads(json.dumps(template))
    event["id"] = f"malformed-{index}-{world.rng.getrandbits(32)}"
    if kind == "not_json":
        return OutgoingMessage(
            template["type"], b"{not json at all" + str(index).encode(), "application/json", None
        )
    if kind == "not_object":
        return OutgoingMessage(
            template["type"], json.dumps([index, "array"]).encode(), "application/json", None
        )
    if kind == "missing_id":
        del event["id"]
    elif kind == "bad_uuid":
        event["subject"] = f"not-a-uuid-{index}"
    elif kind == "bad_currency":
        event["data"]["currency"] = "XXZ"
    elif kind == "bad_time":
        event["time"] = "yesterday"
    elif kind == "bad_sequence":
        event["sequence"] = -index - 1
    return OutgoingMessage(template["type"], json.dumps(event).encode(), "application/json", None)


def generate_traffic(
    *,
    aggregates: int,
    events: int,
    duplicate_rate: float = 0.0,
    reorder_rate: float = 0.0,
    malformed_rate: float = 0.0,
    seed: int = 0,
    start: datetime | None = None,
) -> Traffic:
    """``events`` valid, distinct events over ``aggregates`` aggregates, plus the faults asked for."""
    if aggregates < 1 or events < aggregates:
        raise ValueError("need at least one aggregate and at least one event per aggregate")
    rng = random.Random(seed)
    world = _World(rng, start or datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    n_accounts = max(1, aggregates // 5)
    n_refunds = aggregates // 10
    n_payments = max(aggregates - n_accounts - n_refunds, 1)
    n_refunds = aggregates - n_accounts - n_payments
    per, extra = divmod(events, aggregates)
    counts = [per + (1 if i < extra else 0) for i in range(aggregates)]

    streams: list[list[dict[str, Any]]] = []
    accounts = [world.account() for _ in range(n_accounts)]
    for account, count in zip(accounts, counts[:n_accounts], strict=True):
        streams.append(_account_events(world, account, count))
    payments: list[PaymentState] = []
    for count in counts[n_accounts : n_accounts + n_payments]:
        account = rng.choice(accounts)
        currency = account.currency
        payment = PaymentState(
            payment_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            account_id=account.account_id,
            amount_cents=world.amount(currency),
            currency=currency,
            description=f"{rng.choice(ITEMS)} #{rng.randint(1000, 99999)}",
            merchant_reference=f"ORD-{rng.randint(100000, 999999)}" if rng.random() < 0.8 else "",
        )
        payments.append(payment)
        streams.append(_payment_events(world, payment, count))
    for count in counts[n_accounts + n_payments :]:
        payment = rng.choice(payments)
        refund = RefundState(
            refund_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            payment_id=payment.payment_id,
            amount_cents=max(1, payment.amount_cents // 2),
            currency=payment.currency,
            reference="",
        )
        streams.append(_refund_events(world, refund, count))

    # Interleave the streams, keeping each aggregate's own order.
    keyed: list[tuple[float, int, dict[str, Any]]] = []
    for index, stream in enumerate(streams):
        position = rng.random()
        for event in stream:
            keyed.append((position, index, event))
            position += rng.random() * 2 / max(per, 1)
    keyed.sort(key=lambda item: (item[0], item[1]))
    ordered = [event for _, _, event in keyed]

    traffic = Traffic(valid_events=len(ordered))
    # Reordering: swap an event with the next one of the same subject.
    last_index: dict[str, int] = {}
    for index, event in enumerate(ordered):
        previous = last_index.get(event["subject"])
        if previous is not None and rng.random() < reorder_rate:
            ordered[previous], ordered[index] = ordered[index], ordered[previous]
            traffic.reordered += 1
            last_index.pop(event["subject"])
            continue
        last_index[event["subject"]] = index

    messages = [_message(event) for event in ordered]
    for _ in range(round(len(ordered) * duplicate_rate)):
        original = messages[rng.randrange(len(ordered))]
        messages.insert(rng.randrange(len(messages) + 1), original)
        traffic.duplicates += 1
    for index in range(round(len(ordered) * malformed_rate)):
        template = ordered[rng.randrange(len(ordered))]
        messages.insert(rng.randrange(len(messages) + 1), _malformed(world, template, index))
        traffic.malformed += 1
    traffic.messages = messages
    return traffic
