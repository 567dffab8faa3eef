"""Strict parsing of the Go services' events (shared/contracts/events.md).

Every message is turned into an :class:`Event` (a known type, validated
envelope and ``data``), an :class:`UnknownEvent` (a valid envelope of a type
the portal does not know: acknowledged and recorded as ignored), or a
:class:`MalformedEvent` exception whose message says in plain words what is
wrong — it becomes the dead letter's reason.

Two parsers give the same answers. ``parse_event`` first tries a fast path:
``msgspec`` decodes the body straight into typed structs (UUIDs, bounded
integers, string lengths, status choices) and a few checks follow in Python
(timestamps, currencies, the subject). Anything the fast path does not accept
goes through the readable parser below, which decides — so the rules and the
dead-letter reasons are those of the readable parser, and the fast path only
ever accepts what it would accept, with the same values (timestamps are left
to ``datetime.fromisoformat`` for that reason: msgspec accepts a space for
``T`` and rounds sub-microseconds).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from apps.payments.currencies import is_currency


class MalformedEvent(ValueError):
    """The message cannot be applied as it is; the text is the reason shown to operators."""


ACCOUNT_STATUSES = frozenset({"active", "frozen", "closed"})
PAYMENT_STATUSES = frozenset(
    {"pending", "authorized", "settled", "failed", "refunded", "partially_refunded"}
)
REFUND_STATUSES = frozenset({"pending", "succeeded", "failed"})


# --- field readers: each names the field it rejects ------------------------------


def _string(obj: dict[str, Any], name: str, *, max_length: int, allow_empty: bool = True) -> str:
    if name not in obj:
        raise MalformedEvent(f"missing field {name!r}")
    value = obj[name]
    if not isinstance(value, str):
        raise MalformedEvent(f"{name!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise MalformedEvent(f"{name!r} must not be empty")
    if len(value) > max_length:
        raise MalformedEvent(f"{name!r} is longer than {max_length} characters")
    return value


def _uuid(obj: dict[str, Any], name: str) -> uuid.UUID:
    raw = _string(obj, name, max_length=64, allow_empty=False)
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise MalformedEvent(f"{name!r} is not a UUID: {raw[:40]!r}") from None


def _integer(obj: dict[str, Any], name: str, *, minimum: int | None = None) -> int:
    if name not in obj:
        raise MalformedEvent(f"missing field {name!r}")
    value = obj[name]
    # JSON true/false decode to bool, a subclass of int; 10.0 is a float. Neither is an integer here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedEvent(f"{name!r} must be an integer, got {json.dumps(value)[:40]}")
    if minimum is not None and value < minimum:
        raise MalformedEvent(f"{name!r} must be at least {minimum}, got {value}")
    if abs(value) >= 2**63:
        raise MalformedEvent(f"{name!r} is out of range")
    return value


def _timestamp(obj: dict[str, Any], name: str) -> datetime:
    raw = _string(obj, name, max_length=64, allow_empty=False)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedEvent(f"{name!r} is not an RFC 3339 timestamp: {raw!r}") from None
    if value.tzinfo is None or "T" not in raw.upper():
        raise MalformedEvent(f"{name!r} must be an RFC 3339 timestamp with a timezone: {raw!r}")
    return value


def _currency(obj: dict[str, Any], name: str = "currency") -> str:
    code = _string(obj, name, max_length=3, allow_empty=False)
    if not is_currency(code):
        raise MalformedEvent(f"{name!r} is not an ISO 4217 currency: {code!r}")
    return code


def _choice(obj: dict[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = _string(obj, name, max_length=32, allow_empty=False)
    if value not in allowed:
        raise MalformedEvent(f"{name!r} must be one of {', '.join(sorted(allowed))}; got {value!r}")
    return value


# --- data of each aggregate --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountData:
    account_id: uuid.UUID
    owner_id: uuid.UUID
    owner_name: str
    owner_email: str
    currency: str
    balance_cents: int
    status: str
    created_at: datetime
    updated_at: datetime

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.account_id

    @classmethod
    def parse(cls, data: dict[str, Any]) -> AccountData:
        return cls(
            account_id=_uuid(data, "account_id"),
            owner_id=_uuid(data, "owner_id"),
            owner_name=_string(data, "owner_name", max_length=255),
            owner_email=_string(data, "owner_email", max_length=320),
            currency=_currency(data),
            balance_cents=_integer(data, "balance_cents"),
            status=_choice(data, "status", ACCOUNT_STATUSES),
            created_at=_timestamp(data, "created_at"),
            updated_at=_timestamp(data, "updated_at"),
        )


@dataclass(frozen=True, slots=True)
class PaymentData:
    payment_id: uuid.UUID
    account_id: uuid.UUID
    amount_cents: int
    refunded_cents: int
    currency: str
    status: str
    description: str
    merchant_reference: str
    created_at: datetime
    updated_at: datetime

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.payment_id

    @classmethod
    def parse(cls, data: dict[str, Any]) -> PaymentData:
        parsed = cls(
            payment_id=_uuid(data, "payment_id"),
            account_id=_uuid(data, "account_id"),
            amount_cents=_integer(data, "amount_cents", minimum=1),
            refunded_cents=_integer(data, "refunded_cents", minimum=0),
            currency=_currency(data),
            status=_choice(data, "status", PAYMENT_STATUSES),
            description=_string(data, "description", max_length=10_000),
            merchant_reference=_string(data, "merchant_reference", max_length=255),
            created_at=_timestamp(data, "created_at"),
            updated_at=_timestamp(data, "updated_at"),
        )
        if parsed.refunded_cents > parsed.amount_cents:
            raise MalformedEvent(
                f"'refunded_cents' ({parsed.refunded_cents}) exceeds 'amount_cents' ({parsed.amount_cents})"
            )
        return parsed


@dataclass(frozen=True, slots=True)
class RefundData:
    refund_id: uuid.UUID
    payment_id: uuid.UUID
    amount_cents: int
    currency: str
    status: str
    failure_reason: str
    reference: str
    created_at: datetime
    updated_at: datetime

    @property
    def aggregate_id(self) -> uuid.UUID:
        return self.refund_id

    @classmethod
    def parse(cls, data: dict[str, Any]) -> RefundData:
        return cls(
            refund_id=_uuid(data, "refund_id"),
            payment_id=_uuid(data, "payment_id"),
            amount_cents=_integer(data, "amount_cents", minimum=1),
            currency=_currency(data),
            status=_choice(data, "status", REFUND_STATUSES),
            failure_reason=_string(data, "failure_reason", max_length=10_000),
            reference=_string(data, "reference", max_length=255),
            created_at=_timestamp(data, "created_at"),
            updated_at=_timestamp(data, "updated_at"),
        )


AggregateData = AccountData | PaymentData | RefundData

# type → (aggregate kind, parser of its data)
KNOWN_TYPES: dict[str, tuple[str, Callable[[dict[str, Any]], AggregateData]]] = {
    "account.created": ("account", AccountData.parse),
    "account.updated": ("account", AccountData.parse),
    "payment.created": ("payment", PaymentData.parse),
    "payment.updated": ("payment", PaymentData.parse),
    "refund.created": ("refund", RefundData.parse),
    "refund.updated": ("refund", RefundData.parse),
}


# --- the envelope ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    source: str
    id: str
    type: str
    kind: str  # account | payment | refund
    subject: uuid.UUID
    time: datetime
    sequence: int
    data: AggregateData
    data_json: bytes  # the ``data`` object as JSON text, kept in the ledger


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    source: str
    id: str
    type: str
    time: datetime | None


def parse_event(body: bytes) -> Event | UnknownEvent:
    """Parse one message body. Raises :class:`MalformedEvent` with a readable reason."""
    try:
        return _parse_fast(body)
    except (msgspec.DecodeError, msgspec.ValidationError, _NotFast):
        return _parse_readable(body)


def _parse_readable(body: bytes) -> Event | UnknownEvent:
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise MalformedEvent("body is not UTF-8") from None
    except ValueError as exc:
        raise MalformedEvent(f"body is not JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(document, dict):
        raise MalformedEvent(f"body is JSON but not an object (a {type(document).__name__})")

    specversion = document.get("specversion")
    if specversion != "1.0":
        raise MalformedEvent(f"'specversion' must be \"1.0\", got {json.dumps(specversion)}")
    event_id = _string(document, "id", max_length=255, allow_empty=False)
    source = _string(document, "source", max_length=255, allow_empty=False)
    event_type = _string(document, "type", max_length=64, allow_empty=False)

    known = KNOWN_TYPES.get(event_type)
    if known is None:
        time = _timestamp(document, "time") if "time" in document else None
        return UnknownEvent(source=source, id=event_id, type=event_type, time=time)

    kind, parse_data = known
    subject = _uuid(document, "subject")
    time = _timestamp(document, "time")
    sequence = _integer(document, "sequence", minimum=1)
    content_type = document.get("datacontenttype", "application/json")
    if content_type != "application/json":
        raise MalformedEvent(f"'datacontenttype' must be application/json, got {content_type!r}")
    raw_data = document.get("data")
    if not isinstance(raw_data, dict):
        raise MalformedEvent("'data' must be an object")
    data = parse_data(raw_data)
    if data.aggregate_id != subject:
        raise MalformedEvent(
            f"'subject' ({subject}) differs from the {kind} id in 'data' ({data.aggregate_id})"
        )
    return Event(
        source=source,
        id=event_id,
        type=event_type,
        kind=kind,
        subject=subject,
        time=time,
        sequence=sequence,
        data=data,
        data_json=json.dumps(raw_data, separators=(",", ":")).encode(),
    )


# --- the fast path ----------------------------------------------------------------------


class _NotFast(Exception):
    """The fast path does not decide this one; the readable parser will."""


# The readable parser refuses abs(value) >= 2**63.
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63) + 1, le=2**63 - 1)]
_Positive = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
_NonNegative = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_Timestamp = Annotated[str, msgspec.Meta(max_length=64)]


def _str(max_length: int) -> Any:
    return Annotated[str, msgspec.Meta(max_length=max_length)]


class _AccountWire(msgspec.Struct):
    account_id: uuid.UUID
    owner_id: uuid.UUID
    owner_name: _str(255)
    owner_email: _str(320)
    currency: _str(3)
    balance_cents: _Int64
    status: Literal["active", "frozen", "closed"]
    created_at: _Timestamp
    updated_at: _Timestamp


class _PaymentWire(msgspec.Struct):
    payment_id: uuid.UUID
    account_id: uuid.UUID
    amount_cents: _Positive
    refunded_cents: _NonNegative
    currency: _str(3)
    status: Literal["pending", "authorized", "settled", "failed", "refunded", "partially_refunded"]
    description: _str(10_000)
    merchant_reference: _str(255)
    created_at: _Timestamp
    updated_at: _Timestamp


class _RefundWire(msgspec.Struct):
    refund_id: uuid.UUID
    payment_id: uuid.UUID
    amount_cents: _Positive
    currency: _str(3)
    status: Literal["pending", "succeeded", "failed"]
    failure_reason: _str(10_000)
    reference: _str(255)
    created_at: _Timestamp
    updated_at: _Timestamp


class _EnvelopeWire(msgspec.Struct):
    specversion: Literal["1.0"]
    id: _str(255)
    source: _str(255)
    type: Literal[tuple(KNOWN_TYPES)]  # an unknown type goes the readable way
    subject: uuid.UUID
    time: _Timestamp
    sequence: _Positive
    data: msgspec.Raw
    datacontenttype: Literal["application/json"] = "application/json"


_decode_envelope = msgspec.json.Decoder(_EnvelopeWire).decode
_DATA_DECODERS = {
    "account": msgspec.json.Decoder(_AccountWire).decode,
    "payment": msgspec.json.Decoder(_PaymentWire).decode,
    "refund": msgspec.json.Decoder(_RefundWire).decode,
}


def _fast_timestamp(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise _NotFast from None
    if value.tzinfo is None or "T" not in raw.upper():
        raise _NotFast
    return value


def _parse_fast(body: bytes) -> Event:
    envelope = _decode_envelope(body)
    if not (envelope.id.strip() and envelope.source.strip()):
        raise _NotFast
    kind = KNOWN_TYPES[envelope.type][0]
    wire = _DATA_DECODERS[kind](envelope.data)
    if not is_currency(wire.currency):
        raise _NotFast
    created_at = _fast_timestamp(wire.created_at)
    updated_at = _fast_timestamp(wire.updated_at)
    if kind == "account":
        data: AggregateData = AccountData(
            wire.account_id,
            wire.owner_id,
            wire.owner_name,
            wire.owner_email,
            wire.currency,
            wire.balance_cents,
            wire.status,
            created_at,
            updated_at,
        )
    elif kind == "payment":
        if wire.refunded_cents > wire.amount_cents:
            raise _NotFast
        data = PaymentData(
            wire.payment_id,
            wire.account_id,
            wire.amount_cents,
            wire.refunded_cents,
            wire.currency,
            wire.status,
            wire.description,
            wire.merchant_reference,
            created_at,
            updated_at,
        )
    else:
        data = RefundData(
            wire.refund_id,
            wire.payment_id,
            wire.amount_cents,
            wire.currency,
            wire.status,
            wire.failure_reason,
            wire.reference,
            created_at,
            updated_at,
        )
    if data.aggregate_id != envelope.subject:
        raise _NotFast
    return Event(
        source=envelope.source,
        id=envelope.id,
        type=envelope.type,
        kind=kind,
        subject=envelope.subject,
        time=_fast_timestamp(envelope.time),
        sequence=envelope.sequence,
        data=data,
        data_json=bytes(envelope.data),
    )


def fingerprint(message: Any) -> str:
    """SHA-256 of a message's routing key and body: the identity of a dead letter."""
    digest = hashlib.sha256(message.routing_key.encode() + b"\0" + message.body)
    return digest.hexdigest()
