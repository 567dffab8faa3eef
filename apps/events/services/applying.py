"""The event intake's write path: apply a batch of messages (and keep the malformed ones).

``apply_event_batch`` is the only code that writes the read models. A call is
one transaction, or two when another batch holds some of its aggregates:

1. parse every message strictly (``apps.events.schema``); malformed ones
   become dead letters, unknown types are recorded as ignored;
2. drop duplicates repeated within the batch; a duplicate of an event already
   in the ledger needs no check up front: its sequence is at or below the
   stored one, so it cannot change state, and the ledger insert (``ON
   CONFLICT DO NOTHING RETURNING``) tells which ones were duplicates;
3. ``COPY`` every remaining event into temporary staging tables (before the
   locks, so no lock is held while rows are built);
4. take one transaction-scoped advisory lock per aggregate: the intake
   *tries* them all in one statement and holds back the events of the
   aggregates another batch holds (their staged rows are taken out; they are
   applied right after this transaction commits, in a second one that waits
   for their locks in ascending order and holds nothing else, so no two
   batches wait in a cycle); inside a caller's transaction every lock is
   waited for, in ascending order;
5. in one pipelined round trip (``_apply_staged``): append the new events to
   the ledger, each *applied* if its ``sequence`` is above the stored one and
   every earlier one of the batch for its subject, else *stale* (decided in
   SQL, as if applied one by one in arrival order); merge each subject's
   winner with one ``INSERT … SELECT DISTINCT ON … ON CONFLICT … DO UPDATE …
   WHERE sequence < EXCLUDED.sequence`` per read model; add to the per-source
   counters (the only rows every consumer writes) and touch the heartbeat;
6. tell the registered observers (``apps.events.observers``) which subjects
   changed: the approvals settle the requests those events answer.

The caller acknowledges the messages only after this returns, so a crash or
a database outage at any point loses nothing and applies nothing twice (a
crash between the two transactions redelivers the batch, whose first part is
then a set of duplicates).
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
from apps.events import observers
from apps.events.models import DeadLetterStatus
from apps.events.schema import (
    Event,
    MalformedEvent,
    UnknownEvent,
    fingerprint,
    parse_event,
)
from apps.events.services.staging import (
    COUNT_AND_BEAT,
    DROP_STAGED,
    LEDGER_APPEND,
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
def apply_event_batch(messages: Sequence[IncomingMessage], *, consumer: str = "") -> BatchResult:
    """Apply a batch of raw messages (see the module docstring).

    Called outside a transaction (the intake), the batch does not wait for an
    aggregate another batch is applying: it tries each aggregate's lock, applies
    and commits the events of every aggregate it got, then applies the held-back
    rest in a second transaction that waits for their locks (holding nothing
    else, so no cycle). Two consumers' batches nearly always share a few
    aggregates; waiting for those made the whole of one batch wait for the
    whole of the other. Inside a caller's transaction (a replay, a file) it is
    one transaction that waits for every lock.
    """
    # The bulk statements run on psycopg cursors of their own: their errors become Django's
    # too (an outage is an OperationalError to the intake, whichever statement met it).
    with connection.wrap_database_errors:
        if connection.in_atomic_block:
            with transaction.atomic():
                return _apply_event_batch(messages, consumer, wait_for_locks=True)[0]
        with transaction.atomic():
            result, held_back = _apply_event_batch(messages, consumer, wait_for_locks=False)
        if held_back:
            with transaction.atomic():
                result.add(_apply_event_batch(held_back, consumer, wait_for_locks=True)[0])
        return result


def _apply_event_batch(
    messages: Sequence[IncomingMessage], consumer: str, *, wait_for_locks: bool
) -> tuple[BatchResult, list[IncomingMessage]]:
    """One transaction's part; returns its result and the messages it held back (not counted)."""
    now = timezone.now()
    per_source: dict[str, BatchResult] = defaultdict(BatchResult)
    events: list[Event] = []
    unknown: list[UnknownEvent] = []
    origin: list[int] = []  # per event, then per unknown event: its message's index
    unknown_origin: list[int] = []
    seen: set[tuple[str, str]] = set()

    for index, message in enumerate(messages):
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
        if key in seen:  # counted as a duplicate with the ledger's (received minus the rest)
            continue
        seen.add(key)
        if isinstance(parsed, UnknownEvent):
            unknown.append(parsed)
            unknown_origin.append(index)
        else:
            events.append(parsed)
            origin.append(index)

    _create_staging()
    if events or unknown:
        # Before the locks: the rows go to this connection's private staging tables, so
        # the time other consumers may wait for these aggregates holds no row building.
        _stage_batch(events, unknown, now)
    held_positions: list[int] = []
    held_back: list[IncomingMessage] = []
    if not wait_for_locks and (events or unknown):
        held = _try_aggregate_locks(events, unknown)
        if held:
            keep_events, keep_unknown, held_indexes = [], [], []
            for position, event in enumerate(events):
                if _lock_key(event.kind, event.subject) in held:
                    held_positions.append(position)
                    held_indexes.append(origin[position])
                    per_source[event.source].received -= 1
                else:
                    keep_events.append(event)
            for offset, item in enumerate(unknown):
                if _unknown_lock_key(item) in held:
                    held_positions.append(len(events) + offset)
                    held_indexes.append(unknown_origin[offset])
                    per_source[item.source].received -= 1
                else:
                    keep_unknown.append(item)
            events, unknown = keep_events, keep_unknown
            held_back = [messages[index] for index in sorted(held_indexes)]
    changed = _apply_staged(
        events,
        unknown,
        per_source,
        consumer,
        now,
        lock=wait_for_locks,
        drop_positions=held_positions,
    )
    winners = _batch_winners(events)
    # The workflow apps (refund and freeze requests) learn what changed; they registered.
    observers.notify(
        {
            kind: {subject: event for subject, event in by_subject.items() if subject in changed}
            for kind, by_subject in winners.items()
        }
    )

    total = BatchResult()
    for result in per_source.values():
        total.add(result)
    return total, held_back


# Advisory locks with two int4 keys live apart from the one-bigint locks other code takes
# (the action log's chain lock, request locks): (namespace per aggregate kind, 32 bits of its id).
_LOCK_NAMESPACE = {"account": 16_001, "payment": 16_002, "refund": 16_003, "unknown": 16_004}


def _lock_key(kind: str, identity: uuid.UUID) -> tuple[int, int]:
    """The advisory-lock key of one aggregate; a rare collision only serialises a little more."""
    key = identity.int >> 96
    return _LOCK_NAMESPACE[kind], key - (1 << 32) if key >= 1 << 31 else key


def _aggregate_locks(events: list[Event], unknown: list[UnknownEvent]) -> list[tuple[int, int]]:
    """The batch's advisory-lock keys, in the one order every consumer takes them.

    One per aggregate; unknown events have no aggregate, so their ``(source,
    id)`` is locked instead, and two consumers never wait on each other's
    ledger row the other way round.
    """
    keys = {_lock_key(event.kind, event.subject) for event in events}
    keys.update(_unknown_lock_key(item) for item in unknown)
    return sorted(keys)


def _unknown_lock_key(item: UnknownEvent) -> tuple[int, int]:
    return _lock_key("unknown", uuid.uuid5(uuid.NAMESPACE_URL, f"{item.source}\0{item.id}"))


def _try_aggregate_locks(events: list[Event], unknown: list[UnknownEvent]) -> set[tuple[int, int]]:
    """Take every lock of the batch that is free now; return the keys another batch holds.

    ``pg_try_advisory_xact_lock`` never waits, so the order does not matter here.
    """
    locks = _aggregate_locks(events, unknown)
    with _bulk_cursor() as cursor:
        cursor.execute(
            "SELECT namespace, key FROM unnest(%b::int4[], %b::int4[]) AS k(namespace, key) "
            "WHERE NOT pg_try_advisory_xact_lock(namespace, key)",
            [[namespace for namespace, _ in locks], [key for _, key in locks]],
        )
        return {(namespace, key) for namespace, key in cursor.fetchall()}


def _apply_staged(
    events: list[Event],
    unknown: list[UnknownEvent],
    per_source: dict[str, BatchResult],
    consumer: str,
    now: datetime,
    *,
    lock: bool = True,
    drop_positions: Sequence[int] = (),
) -> set[uuid.UUID]:
    """The locked part of a batch, in one round trip; returns the subjects whose state changed.

    In one pipeline: the aggregate locks (all in one statement, ascending), or,
    when they are held already (``lock=False``), the staged rows of the events
    held back (``drop_positions``) taken out; the
    ledger append, which decides each event's outcome from the stored
    sequences (its snapshot is taken once the locks are held, so it sees
    every batch that held them before); one merge per read model; the
    counters and the heartbeat. Every round trip inside the locks is also,
    beside the worker's other intake thread, a wait for the GIL, so nothing
    waits for an answer in between. Fills ``per_source`` from the counts.
    """
    kinds = sorted({event.kind for event in events})
    locks = _aggregate_locks(events, unknown)
    sources = sorted(per_source)
    raw = connection.connection
    with (
        _bulk_cursor() as statements,
        _bulk_cursor() as counted,
        contextlib.ExitStack() as merged,
    ):
        merges = {kind: merged.enter_context(_bulk_cursor()) for kind in kinds}
        with raw.pipeline():
            if drop_positions:
                statements.execute(DROP_STAGED, {"positions": list(drop_positions)})
            if locks and lock:
                statements.execute(
                    "SELECT count(pg_advisory_xact_lock(namespace, key)) FROM "
                    "(SELECT namespace, key FROM unnest(%b::int4[], %b::int4[]) "
                    "AS k(namespace, key) ORDER BY namespace, key) AS ordered",
                    [[namespace for namespace, _ in locks], [key for _, key in locks]],
                )
            if locks:
                statements.execute(LEDGER_APPEND, {"now": now})
            for kind, cursor in merges.items():
                cursor.execute(MERGES[kind])
            counted.execute(
                COUNT_AND_BEAT,
                {
                    "sources": sources,
                    "received": [per_source[source].received for source in sources],
                    "dead_letters": [per_source[source].dead_letters for source in sources],
                    "consumer": consumer,
                    "now": now,
                },
            )
        changed = {subject for cursor in merges.values() for (subject,) in cursor.fetchall()}
        for source, applied, stale, ignored in counted.fetchall():
            result = per_source[source]
            result.applied, result.stale, result.ignored = applied, stale, ignored
            result.duplicates = result.received - result.dead_letters - applied - stale - ignored
    return changed


def _batch_winners(events: list[Event]) -> dict[str, dict[uuid.UUID, Event]]:
    """Per subject, the event a merge takes: the highest sequence, the first to arrive among equals."""
    winners: dict[str, dict[uuid.UUID, Event]] = defaultdict(dict)
    for event in events:
        current = winners[event.kind].get(event.subject)
        if current is None or event.sequence > current.sequence:
            winners[event.kind][event.subject] = event
    return winners


def _stage_batch(events: list[Event], unknown: list[UnknownEvent], now: datetime) -> None:
    """Every new event's state and ledger row into the staging tables, with its position."""
    by_kind: dict[str, list[tuple[int, Event]]] = defaultdict(list)
    for position, event in enumerate(events):
        by_kind[event.kind].append((position, event))
    ledger: list[tuple] = [
        (
            e.source,
            e.id,
            e.type,
            e.subject,
            e.sequence,
            e.time,
            "applied",
            e.data_json.decode(),
            e.kind,
            p,
        )
        for p, e in enumerate(events)
    ]
    ledger += [
        (u.source, u.id, u.type, None, None, u.time, "ignored", None, None, len(events) + i)
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
