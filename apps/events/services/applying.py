"""The event intake's write path: apply a batch of messages (and keep the malformed ones).

``apply_event_batch`` is the only code that writes the read models. One call
is one transaction:

1. parse every message strictly (``apps.events.schema``); malformed ones
   become dead letters, unknown types are recorded as ignored;
2. drop duplicates repeated within the batch; a duplicate of an event already
   in the ledger needs no check up front: its sequence is at or below the
   stored one, so it cannot change state, and the ledger insert (``ON
   CONFLICT DO NOTHING RETURNING``) tells which ones were duplicates;
3. take one transaction-scoped advisory lock per aggregate of the batch, all
   in one statement, in ascending key order. Any number of consumers may run
   batches at once: two batches touching the same aggregate run one after
   the other, and since every consumer locks in the same order, never in a
   cycle (no deadlock). Nothing else in the transaction waits on another
   consumer's row, except the per-source counters, updated last;
4. read the stored sequences of the batch's subjects and classify each new
   event in arrival order: *applied* if its ``sequence`` is above the
   subject's current one, *stale* otherwise (state never goes backwards);
5. merge the state of each subject's winner with one ``INSERT … SELECT
   DISTINCT ON … ON CONFLICT … DO UPDATE … WHERE sequence < EXCLUDED.sequence``
   per read model, and the ledger rows with one ``INSERT … ON CONFLICT DO
   NOTHING RETURNING``, from temporary staging tables that every event of the
   batch was ``COPY``-ed into before the locks (so the locked part builds no
   rows; the stale events' positions are a parameter of the ledger insert);
6. touch the heartbeat, let the approvals close requests the events settle,
   and add to the counters.

The caller acknowledges the messages only after this returns, so a crash or
a database outage at any point loses nothing and applies nothing twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.services import not_audited
from apps.events.models import DeadLetterStatus
from apps.events.schema import (
    AccountData,
    Event,
    MalformedEvent,
    RefundData,
    UnknownEvent,
    fingerprint,
    parse_event,
)
from apps.events.services.staging import (
    LEDGER_MERGE,
    MERGES,
    READ_MODELS,
    _bulk_cursor,
    _copy_rows,
    _create_staging,
)

logger = logging.getLogger(__name__)

UNKNOWN_SOURCE = "(unknown)"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    body: bytes
    routing_key: str = ""
    content_type: str = ""
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    ignored: int = 0
    dead_letters: int = 0

    def add(self, other: BatchResult) -> None:
        for name in ("received", "applied", "duplicates", "stale", "ignored", "dead_letters"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _source_hint(body: bytes) -> str:
    """Best effort: the ``source`` of a malformed message, so it is counted where it came from."""
    try:
        document = json.loads(body)
    except ValueError:
        return UNKNOWN_SOURCE
    if (
        isinstance(document, dict)
        and isinstance(document.get("source"), str)
        and document["source"]
    ):
        return document["source"][:255]
    return UNKNOWN_SOURCE


def _json_safe(headers: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(headers, default=str))


@not_audited("the Go services' events, not people's actions; each is kept in the ledger")
@transaction.atomic
def apply_event_batch(messages: Sequence[IncomingMessage], *, consumer: str = "") -> BatchResult:
    """Apply a batch of raw messages in one transaction (see the module docstring)."""
    now = timezone.now()
    per_source: dict[str, BatchResult] = defaultdict(BatchResult)
    events: list[Event] = []
    unknown: list[UnknownEvent] = []
    seen: set[tuple[str, str]] = set()

    for message in messages:
        try:
            parsed = parse_event(message.body)
        except MalformedEvent as problem:
            source = _source_hint(message.body)
            per_source[source].received += 1
            per_source[source].dead_letters += 1
            _keep_dead_letter(message, str(problem), now)
            continue
        per_source[parsed.source].received += 1
        key = (parsed.source, parsed.id)
        if key in seen:
            per_source[parsed.source].duplicates += 1
            continue
        seen.add(key)
        if isinstance(parsed, UnknownEvent):
            unknown.append(parsed)
        else:
            events.append(parsed)

    if events or unknown:
        _create_staging()
        # Before the locks: the rows go to this connection's private staging tables, so
        # the time other consumers may wait for these aggregates holds no row building.
        _stage_batch(events, unknown, now)
    current = _lock_and_read_sequences(events, unknown)
    outcomes, winners = _classify(events, current)
    inserted = _merge_and_append_ledger(sorted(winners), events, outcomes, unknown, now)
    newest_event_time: dict[str, datetime] = {}
    for event in events:
        key = (event.source, event.id)
        if key not in inserted:  # already in the ledger: a redelivery or a producer retry
            per_source[event.source].duplicates += 1
            continue
        if outcomes[key] == "applied":
            per_source[event.source].applied += 1
            newest = newest_event_time.get(event.source)
            newest_event_time[event.source] = max(newest, event.time) if newest else event.time
        else:
            per_source[event.source].stale += 1
    for item in unknown:
        if (item.source, item.id) in inserted:
            per_source[item.source].ignored += 1
        else:
            per_source[item.source].duplicates += 1

    _settle_requests(winners)
    # Last, in one round trip: the heartbeat, and the counter rows, the only rows every
    # consumer writes, so they are held for the shortest time.
    with _bulk_cursor() as cursor, connection.connection.pipeline():
        if consumer:
            _touch_heartbeat(consumer, now, newest_event_time, cursor=cursor)
        _add_to_counters(per_source, newest_event_time, now, cursor=cursor)

    total = BatchResult()
    for result in per_source.values():
        total.add(result)
    return total


# Advisory locks with two int4 keys live apart from the one-bigint locks other code takes
# (the action log's chain lock, request locks): (namespace per aggregate kind, 32 bits of its id).
_LOCK_NAMESPACE = {"account": 16_001, "payment": 16_002, "refund": 16_003, "unknown": 16_004}


def _lock_key(kind: str, identity: uuid.UUID) -> tuple[int, int]:
    """The advisory-lock key of one aggregate; a rare collision only serialises a little more."""
    key = identity.int >> 96
    return _LOCK_NAMESPACE[kind], key - (1 << 32) if key >= 1 << 31 else key


def _lock_and_read_sequences(
    events: list[Event], unknown: list[UnknownEvent]
) -> dict[tuple[str, uuid.UUID], int]:
    """Lock the batch's aggregates, then read their stored sequences; one round trip.

    The locks: one advisory lock per aggregate, all in one statement, in
    ascending order (serialising batches per aggregate without a cycle).
    Unknown events have no aggregate; their ``(source, id)`` is locked
    instead, so two consumers never wait on each other's ledger row the other
    way round. The read is a statement of its own, pipelined behind the
    locks: its snapshot is taken once they are held, so it sees every batch
    that held them before (a read inside the locking statement would not).
    """
    keys = {_lock_key(event.kind, event.subject) for event in events}
    keys.update(
        _lock_key("unknown", uuid.uuid5(uuid.NAMESPACE_URL, f"{item.source}\0{item.id}"))
        for item in unknown
    )
    if not keys:
        return {}
    ordered = sorted(keys)
    subjects: dict[str, set[uuid.UUID]] = defaultdict(set)
    for event in events:
        subjects[event.kind].add(event.subject)
    kinds = sorted(subjects)
    query = " UNION ALL ".join(
        f"SELECT %s::text, {READ_MODELS[kind].pk}, sequence "  # noqa: S608 — constants
        f"FROM {READ_MODELS[kind].table} WHERE {READ_MODELS[kind].pk} = ANY(%b::uuid[])"
        for kind in kinds
    )
    params: list[Any] = []
    for kind in kinds:
        params += [kind, list(subjects[kind])]
    with _bulk_cursor() as lock, _bulk_cursor() as read:
        with connection.connection.pipeline():
            lock.execute(
                "SELECT count(pg_advisory_xact_lock(namespace, key)) FROM "
                "(SELECT namespace, key FROM unnest(%b::int4[], %b::int4[]) AS k(namespace, key) "
                "ORDER BY namespace, key) AS ordered",
                [[namespace for namespace, _ in ordered], [key for _, key in ordered]],
            )
            if kinds:
                read.execute(query, params)
        if not kinds:
            return {}
        return {(kind, pk): sequence for kind, pk, sequence in read.fetchall()}


def _classify(
    events: list[Event], current: dict[tuple[str, uuid.UUID], int]
) -> tuple[dict[tuple[str, str], str], dict[str, dict[uuid.UUID, Event]]]:
    """Applied or stale, as if the events had been applied one by one in arrival order.

    ``current`` holds the stored sequences of the locked subjects, which stay
    current until commit; it is updated as the events are classified.
    """
    outcomes: dict[tuple[str, str], str] = {}
    winners: dict[str, dict[uuid.UUID, Event]] = defaultdict(dict)
    for event in events:
        key = (event.kind, event.subject)
        stored = current.get(key)
        if stored is None or event.sequence > stored:
            current[key] = event.sequence
            winners[event.kind][event.subject] = event
            outcomes[(event.source, event.id)] = "applied"
        else:
            outcomes[(event.source, event.id)] = "stale"
    return outcomes, winners


def _stage_batch(events: list[Event], unknown: list[UnknownEvent], now: datetime) -> None:
    """Every new event's state and ledger row into the staging tables, with its position."""
    by_kind: dict[str, list[tuple[int, Event]]] = defaultdict(list)
    for position, event in enumerate(events):
        by_kind[event.kind].append((position, event))
    ledger: list[tuple] = [
        (e.source, e.id, e.type, e.subject, e.sequence, e.time, "applied", e.data_json.decode(), p)
        for p, e in enumerate(events)
    ]
    ledger += [
        (u.source, u.id, u.type, None, None, u.time, "ignored", None, len(events) + i)
        for i, u in enumerate(unknown)
    ]
    with _bulk_cursor() as cursor:
        for kind in sorted(by_kind):
            names = [name for name, _ in READ_MODELS[kind].columns]
            _copy_rows(
                cursor,
                kind,
                (
                    [*(getattr(event.data, name) for name in names), event.sequence, now, position]
                    for position, event in by_kind[kind]
                ),
            )
        _copy_rows(cursor, "ledger", ledger)


def _merge_and_append_ledger(
    kinds: list[str],
    events: list[Event],
    outcomes: dict[tuple[str, str], str],
    unknown: list[UnknownEvent],
    now: datetime,
) -> set[tuple[str, str]]:
    """The read models' merges and the ledger insert, sent together: one round trip.

    Every round trip inside the locked part is also a wait for the GIL when
    another intake thread of the process is busy, so the statements that
    need no answer in between go in one pipeline. Returns the ledger rows
    inserted (the others were already received).
    """
    if not events and not unknown:
        return set()
    stale = [
        position
        for position, event in enumerate(events)
        if outcomes[(event.source, event.id)] == "stale"
    ]
    raw = connection.connection
    with _bulk_cursor() as merges, _bulk_cursor() as ledger:
        with raw.pipeline():
            for kind in kinds:
                merges.execute(MERGES[kind])
            ledger.execute(LEDGER_MERGE, [stale, now])
        return set(ledger.fetchall())


def _add_to_counters(
    per_source: dict[str, BatchResult],
    newest_event_time: dict[str, datetime],
    now: datetime,
    *,
    cursor: psycopg.Cursor | None = None,
) -> None:
    if not per_source:
        return
    sources = sorted(per_source)
    with contextlib.nullcontext(cursor) if cursor else _bulk_cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_intake_counter AS c "
            "(source, received, applied, duplicates, stale, ignored, dead_letters, "
            "newest_applied_at, newest_event_time) "
            "SELECT * FROM unnest(%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], "
            "%b::bigint[], %b::bigint[], %b::bigint[], %b::timestamptz[], %b::timestamptz[]) "
            "ON CONFLICT (source) DO UPDATE SET "
            "received = c.received + EXCLUDED.received, applied = c.applied + EXCLUDED.applied, "
            "duplicates = c.duplicates + EXCLUDED.duplicates, stale = c.stale + EXCLUDED.stale, "
            "ignored = c.ignored + EXCLUDED.ignored, "
            "dead_letters = c.dead_letters + EXCLUDED.dead_letters, "
            "newest_applied_at = GREATEST(c.newest_applied_at, EXCLUDED.newest_applied_at), "
            "newest_event_time = GREATEST(c.newest_event_time, EXCLUDED.newest_event_time)",
            [
                sources,
                *[
                    [getattr(per_source[s], name) for s in sources]
                    for name in (
                        "received",
                        "applied",
                        "duplicates",
                        "stale",
                        "ignored",
                        "dead_letters",
                    )
                ],
                [now if per_source[s].applied else None for s in sources],
                [newest_event_time.get(s) for s in sources],
            ],
        )


def _touch_heartbeat(
    consumer: str,
    now: datetime,
    newest_event_time: dict[str, datetime],
    *,
    cursor: psycopg.Cursor | None = None,
) -> None:
    lag = None
    if newest_event_time:
        lag = max((now - max(newest_event_time.values())).total_seconds(), 0.0)
    with contextlib.nullcontext(cursor) if cursor else _bulk_cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_intake_heartbeat AS h "
            "(consumer, seen_at, last_batch_at, last_batch_lag_seconds) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (consumer) DO UPDATE SET seen_at = EXCLUDED.seen_at, "
            "last_batch_at = COALESCE(EXCLUDED.last_batch_at, h.last_batch_at), "
            "last_batch_lag_seconds = COALESCE(EXCLUDED.last_batch_lag_seconds, h.last_batch_lag_seconds)",
            [consumer, now, now if lag is not None else None, lag],
        )


@not_audited("liveness bookkeeping of the intake")
def touch_heartbeat(*, consumer: str) -> None:
    """The consumer is alive but idle."""
    _touch_heartbeat(consumer, timezone.now(), {})


def _settle_requests(winners: dict[str, dict[uuid.UUID, Event]]) -> None:
    """Let refund and freeze requests the portal made learn their outcome from these events."""
    from apps.approvals.services import (
        RefundObserved,
        settle_freezes_from_events,
        settle_refunds_from_events,
    )

    refunds = []
    for event in winners.get("refund", {}).values():
        data: RefundData = event.data  # type: ignore[assignment]
        if data.reference:
            refunds.append(
                RefundObserved(data.refund_id, data.reference, data.status, data.failure_reason)
            )
    if refunds:
        settle_refunds_from_events(refunds=refunds)
    accounts = [
        (event.data.account_id, event.data.status)
        for event in winners.get("account", {}).values()
        if isinstance(event.data, AccountData)
    ]
    if accounts:
        settle_freezes_from_events(accounts=accounts)


def _keep_dead_letter(message: IncomingMessage, reason: str, now: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_dead_letter AS d "
            "(fingerprint, routing_key, content_type, headers, body, reason, "
            "first_seen, last_seen, attempts, status) "
            "VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, 1, %s) "
            "ON CONFLICT (fingerprint) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
            "attempts = d.attempts + 1, reason = EXCLUDED.reason, status = EXCLUDED.status, "
            "resolved_at = NULL",
            [
                fingerprint(message),
                message.routing_key[:255],
                message.content_type[:255],
                json.dumps(_json_safe(message.headers)),
                message.body,
                reason,
                now,
                now,
                DeadLetterStatus.PENDING,
            ],
        )
    logger.warning(
        "dead letter: %s",
        reason,
        extra={"routing_key": message.routing_key, "fingerprint": fingerprint(message)},
    )


@not_audited("kept in the dead-letter table, which is its own record")
def keep_dead_letter(*, message: IncomingMessage, reason: str) -> None:
    """Keep a message the intake gives up on (a handler that keeps failing, a parked message)."""
    with transaction.atomic():
        _keep_dead_letter(message, reason, timezone.now())
        source = _source_hint(message.body)
        result = BatchResult(received=1, dead_letters=1)
        _add_to_counters({source: result}, {}, timezone.now())
