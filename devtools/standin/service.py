"""The stand-in's business logic: accounts, payments and refunds as the Go services hold them.

Every change publishes the aggregate's full state as an event (through
``EventPublisher``), exactly as the contract says the Go services do. The HTTP
layer (``server.py``) calls :class:`GoServices`; so does the traffic mode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from devtools.standin.events import AccountState, PaymentState, RefundState, next_event
from devtools.standin.traffic import EXPONENT, FIRST, ITEMS, LAST, PRICE_RANGE

logger = logging.getLogger("standin")

REFUNDABLE = ("settled", "partially_refunded")
CURRENCIES = tuple(EXPONENT)


class Publisher(Protocol):
    def publish(self, event: dict[str, Any]) -> None: ...


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Faults:
    """Switchable misbehaviour, for tests and demos."""

    latency_ms: int = 0
    fail_next: list[int] = field(
        default_factory=list
    )  # statuses for the next calls (500, 503, 429…)
    timeout_next: int = 0  # the next N calls answer only after timeout_seconds
    timeout_seconds: float = 15.0
    apply_on_failure: bool = False  # a failed/timed-out call still takes effect (lost answer)
    conflict_next: list[str] = field(default_factory=list)  # forced 409 codes
    refund_outcome: str = "succeeded"  # or "failed"
    refund_failure_reason: str = "issuer declined the refund"
    settle_delay_seconds: float = 0.3
    # The next N answers send their headers at once and their body a byte at a time over
    # trickle_seconds (the effect has happened; only the answer is slow).
    trickle_next: int = 0
    trickle_seconds: float = 30.0
    # A call whose Idempotency-Key is still being processed by an earlier call is answered
    # 409 idempotency_key_in_use (the IETF draft's and Stripe's behaviour); off: both run.
    reject_key_in_flight: bool = True

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if not hasattr(self, name):
                raise ApiError(422, "invalid_request", f"unknown fault {name!r}")
            setattr(self, name, value)


@dataclass
class KeyTraffic:
    """What the service saw of one Idempotency-Key: calls, and most of them open at once."""

    calls: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


@dataclass
class StoredAnswer:
    fingerprint: str
    status: int
    body: dict[str, Any]


class GoServices:
    """The accounts and payments services' state, behind one lock."""

    def __init__(self, publisher: Publisher, *, seed: int | None = None) -> None:
        self.publisher = publisher
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.faults = Faults()
        self.accounts: dict[str, AccountState] = {}
        self.payments: dict[str, PaymentState] = {}
        self.refunds: dict[str, RefundState] = {}
        self.answers: dict[tuple[str, str], StoredAnswer] = {}
        self.effects: dict[str, int] = {}  # idempotency key → how many times it took effect
        self.keys: dict[str, KeyTraffic] = {}  # idempotency key → calls seen with it
        self.timers: list[threading.Timer] = []

    # --- keeping state between runs (the demo's second run reuses its data) ---------------

    def snapshot(self) -> dict[str, Any]:
        """Everything the services know, as JSON-ready data."""
        with self.lock:
            return {
                "accounts": [asdict(a) for a in self.accounts.values()],
                "payments": [asdict(p) for p in self.payments.values()],
                "refunds": [asdict(r) for r in self.refunds.values()],
                "answers": [
                    {"operation": key[0], "key": key[1], **asdict(answer)}
                    for key, answer in self.answers.items()
                ],
                "effects": dict(self.effects),
            }

    def restore(self, data: dict[str, Any]) -> None:
        """Take back a :meth:`snapshot`; sequences continue where they stopped."""
        with self.lock:
            self.accounts = {a["account_id"]: AccountState(**a) for a in data["accounts"]}
            self.payments = {p["payment_id"]: PaymentState(**p) for p in data["payments"]}
            self.refunds = {r["refund_id"]: RefundState(**r) for r in data["refunds"]}
            self.answers = {
                (item.pop("operation"), item.pop("key")): StoredAnswer(**item)
                for item in data["answers"]
            }
            self.effects = dict(data["effects"])

    # --- publishing -----------------------------------------------------------------

    def _emit(
        self, state: AccountState | PaymentState | RefundState, *, created: bool = False
    ) -> None:
        self.publisher.publish(next_event(state, created=created, now=datetime.now(UTC)))

    # --- creating data (admin endpoints, seeding, live traffic) ------------------------

    def create_account(self, **fields: Any) -> AccountState:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        values = {
            "account_id": str(uuid.uuid4()),
            "owner_id": str(uuid.uuid4()),
            "owner_name": f"{first} {last}",
            "owner_email": f"{first}.{last}.{self.rng.randint(1, 99999)}@example.com".lower().replace(
                " ", ""
            ),
            "currency": self.rng.choice(CURRENCIES),
            "balance_cents": self.rng.randint(0, 500_000),
        }
        values.update(fields)
        with self.lock:
            account = AccountState(**values)
            self.accounts[account.account_id] = account
            self._emit(account, created=True)
        return account

    def create_payment(self, *, status: str = "settled", **fields: Any) -> PaymentState:
        with self.lock:
            if "account_id" not in fields:
                account = (
                    self.rng.choice(list(self.accounts.values()))
                    if self.accounts
                    else self.create_account()
                )
                fields["account_id"] = account.account_id
                fields.setdefault("currency", account.currency)
            currency = fields.setdefault("currency", "EUR")
            if "amount_cents" not in fields:
                low, high = PRICE_RANGE.get(currency, (5, 400))
                fields["amount_cents"] = max(
                    1, round(self.rng.uniform(low, high) * 10 ** EXPONENT.get(currency, 2))
                )
            fields.setdefault(
                "description", f"{self.rng.choice(ITEMS)} #{self.rng.randint(1000, 99999)}"
            )
            fields.setdefault("merchant_reference", f"ORD-{self.rng.randint(100000, 999999)}")
            payment = PaymentState(payment_id=fields.pop("payment_id", str(uuid.uuid4())), **fields)
            self.payments[payment.payment_id] = payment
            self._emit(payment, created=True)
            for step in self._path_to(status):
                payment.status = step
                self._emit(payment)
        return payment

    @staticmethod
    def _path_to(status: str) -> list[str]:
        paths = {
            "pending": [],
            "authorized": ["authorized"],
            "settled": ["authorized", "settled"],
            "failed": ["failed"],
        }
        if status not in paths:
            raise ApiError(422, "invalid_request", f"cannot create a payment that is {status!r}")
        return paths[status]

    def advance_payment(self, payment: PaymentState) -> None:
        """One step of a payment's life (live traffic)."""
        with self.lock:
            following = {
                "pending": "authorized",
                "authorized": "settled" if self.rng.random() > 0.05 else "failed",
            }
            if payment.status in following:
                payment.status = following[payment.status]
                self._emit(payment)

    # --- the HTTP APIs of go-apis.md -------------------------------------------------------

    def call(
        self, operation: str, target_id: str, body: dict[str, Any], *, idempotency_key: str
    ) -> tuple[int, dict]:
        """Run one mutating call with idempotency-key semantics and the configured faults."""
        if not idempotency_key or len(idempotency_key) > 255:
            raise ApiError(
                422,
                "invalid_request",
                "Idempotency-Key header is required (at most 255 characters)",
            )
        fingerprint = hashlib.sha256(
            json.dumps([operation, target_id, body], sort_keys=True).encode()
        ).hexdigest()
        with self.lock:
            stored = self.answers.get((operation, idempotency_key))
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise ApiError(
                        409,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with another request",
                    )
                return stored.status, stored.body
            faults = self.faults
            failure = faults.fail_next.pop(0) if faults.fail_next else None
            slow = faults.timeout_next > 0
            if slow:
                faults.timeout_next -= 1
            conflict = faults.conflict_next.pop(0) if faults.conflict_next else None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if conflict:
            raise ApiError(409, conflict, f"forced conflict: {conflict}")
        if failure is not None and not faults.apply_on_failure:
            raise ApiError(
                failure, "unavailable" if failure >= 500 else "rate_limited", "injected failure"
            )
        if slow and not faults.apply_on_failure:
            time.sleep(faults.timeout_seconds)
            raise ApiError(504, "timeout", "injected timeout")
        with self.lock:
            if (operation, idempotency_key) in self.answers:  # a concurrent retry got here first
                stored = self.answers[(operation, idempotency_key)]
                return stored.status, stored.body
            status, answer = self._apply(operation, target_id, body)
            self.answers[(operation, idempotency_key)] = StoredAnswer(fingerprint, status, answer)
            self.effects[idempotency_key] = self.effects.get(idempotency_key, 0) + 1
        if slow:
            time.sleep(faults.timeout_seconds)  # the effect happened; the answer comes too late
        if failure is not None:
            raise ApiError(failure, "unavailable", "injected failure after the effect")
        return status, answer

    def _apply(self, operation: str, target_id: str, body: dict[str, Any]) -> tuple[int, dict]:
        if operation == "refund":
            return self._refund(target_id, body)
        return self._freeze(target_id, body, freeze=operation == "freeze")

    def _refund(self, payment_id: str, body: dict[str, Any]) -> tuple[int, dict]:
        amount, currency = body.get("amount_cents"), body.get("currency")
        reason, reference = body.get("reason"), body.get("reference", "")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ApiError(422, "invalid_request", "amount_cents must be a positive integer")
        if not isinstance(reason, str) or not reason.strip() or not isinstance(reference, str):
            raise ApiError(422, "invalid_request", "reason is required; reference must be a string")
        payment = self.payments.get(payment_id)
        if payment is None:
            raise ApiError(404, "payment_not_found", "no such payment")
        if payment.status not in REFUNDABLE:
            raise ApiError(409, "not_refundable", f"payment is {payment.status}")
        if currency != payment.currency:
            raise ApiError(422, "invalid_request", f"currency must be {payment.currency}")
        pending = sum(
            r.amount_cents
            for r in self.refunds.values()
            if r.payment_id == payment_id and r.status == "pending"
        )
        if amount > payment.amount_cents - payment.refunded_cents - pending:
            raise ApiError(
                409, "amount_exceeds_refundable", "amount exceeds what can still be refunded"
            )
        refund = RefundState(
            refund_id=str(uuid.uuid4()),
            payment_id=payment_id,
            amount_cents=amount,
            currency=currency,
            reference=reference,
        )
        self.refunds[refund.refund_id] = refund
        self._emit(refund, created=True)
        self._later(self.faults.settle_delay_seconds, self._settle_refund, refund.refund_id)
        return 202, {"refund_id": refund.refund_id, "status": "pending"}

    def _settle_refund(self, refund_id: str) -> None:
        with self.lock:
            refund = self.refunds[refund_id]
            payment = self.payments[refund.payment_id]
            if self.faults.refund_outcome == "failed":
                refund.status, refund.failure_reason = "failed", self.faults.refund_failure_reason
                self._emit(refund)
                return
            refund.status = "succeeded"
            self._emit(refund)
            payment.refunded_cents += refund.amount_cents
            payment.status = (
                "refunded"
                if payment.refunded_cents >= payment.amount_cents
                else "partially_refunded"
            )
            self._emit(payment)

    def _freeze(self, account_id: str, body: dict[str, Any], *, freeze: bool) -> tuple[int, dict]:
        if not isinstance(body.get("reason"), str) or not body["reason"].strip():
            raise ApiError(422, "invalid_request", "reason is required")
        account = self.accounts.get(account_id)
        if account is None:
            raise ApiError(404, "account_not_found", "no such account")
        wanted_from, to = ("active", "frozen") if freeze else ("frozen", "active")
        if account.status != wanted_from:
            raise ApiError(409, "invalid_state", f"account is {account.status}")
        account.status = to
        self._emit(account)
        return 202, {"account_id": account_id, "status": to}

    def _later(self, seconds: float, function, *args: Any) -> None:
        timer = threading.Timer(seconds, function, args)
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def open_call(self, idempotency_key: str) -> None:
        """A call with this key arrives (until :meth:`close_call`, after its answer is sent).

        Raises the in-flight 409 when an earlier call with the key is still open.
        """
        with self.lock:
            traffic = self.keys.setdefault(idempotency_key, KeyTraffic())
            traffic.calls += 1
            traffic.in_flight += 1
            traffic.max_in_flight = max(traffic.max_in_flight, traffic.in_flight)
            if traffic.in_flight > 1 and self.faults.reject_key_in_flight:
                traffic.in_flight -= 1
                raise ApiError(
                    409,
                    "idempotency_key_in_use",
                    "an earlier request with this Idempotency-Key is still being processed",
                )

    def close_call(self, idempotency_key: str) -> None:
        with self.lock:
            self.keys[idempotency_key].in_flight -= 1

    def take_trickle(self) -> float | None:
        """Seconds over which this answer's body should trickle, if the fault is on."""
        with self.lock:
            if self.faults.trickle_next <= 0:
                return None
            self.faults.trickle_next -= 1
            return self.faults.trickle_seconds

    # --- inspection for tests ---------------------------------------------------------------

    def effect_count(self, idempotency_key: str) -> int:
        with self.lock:
            return self.effects.get(idempotency_key, 0)

    def key_traffic(self, idempotency_key: str) -> KeyTraffic:
        with self.lock:
            return KeyTraffic(**asdict(self.keys.get(idempotency_key, KeyTraffic())))

    def reset_faults(self) -> None:
        with self.lock:
            self.faults = Faults()
