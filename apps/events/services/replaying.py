"""Messages fed through the intake's path again: dead letters replayed, message files ingested."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict

from django.db import transaction
from django.utils import timezone

from apps.audit.services import Actor, record
from apps.events.message_file import LINE_HEADER, BadLine, read_message_lines
from apps.events.models import DeadLetter, DeadLetterStatus
from apps.events.services.applying import (
    BatchResult,
    IncomingMessage,
    _add_to_counters,
    _keep_dead_letter,
    _source_hint,
    apply_event_batch,
)


def replay_dead_letters(*, ids: Iterable[int] | None, actor: Actor) -> dict[str, list[int]]:
    """Feed dead letters through the normal path again; ``ids=None`` replays every pending one.

    A letter that now applies is marked resolved; one that still fails stays,
    with its attempts counted and its reason refreshed. The replay is recorded
    in the action log.
    """
    letters = DeadLetter.objects.filter(status=DeadLetterStatus.PENDING).order_by("first_seen")
    if ids is not None:
        letters = letters.filter(pk__in=list(ids))
    resolved: list[int] = []
    failing: list[int] = []
    with transaction.atomic():
        for letter in letters.select_for_update():
            message = IncomingMessage(
                body=bytes(letter.body),
                routing_key=letter.routing_key,
                content_type=letter.content_type,
                headers=letter.headers,
            )
            result = apply_event_batch([message], consumer="")
            if result.dead_letters:
                failing.append(letter.pk)
            else:
                DeadLetter.objects.filter(pk=letter.pk).update(
                    status=DeadLetterStatus.RESOLVED, resolved_at=timezone.now()
                )
                resolved.append(letter.pk)
        record(
            action="events.dead_letter.replay",
            actor=actor,
            target_type="dead_letter",
            target_id=",".join(str(pk) for pk in [*resolved, *failing])[:255],
            params={
                "requested": None if ids is None else sorted(ids),
                "resolved": resolved,
                "still_failing": failing,
            },
        )
    return {"resolved": resolved, "still_failing": failing}


def ingest_message_file(
    *, lines: Iterable[bytes], name: str, actor: Actor, batch_size: int
) -> BatchResult:
    """Apply a JSON Lines file of contract messages (``apps.events.message_file``).

    The intake's own path: every ``batch_size`` lines are one
    ``apply_event_batch`` transaction, so duplicates, reordering, unknown
    types and malformed bodies end exactly as they would over RabbitMQ. A
    line that is not a message object at all becomes a dead letter in the
    same transaction (the line as its body, the file and line number in its
    reason). Batches committed before a failure stay; the ledger makes a
    second run of the same file change nothing (its events count as
    duplicates). Recorded in the action log.
    """
    total = BatchResult()
    messages: list[IncomingMessage] = []
    bad: list[BadLine] = []
    for number, item in read_message_lines(lines):
        if isinstance(item, BadLine):
            bad.append(item)
        else:
            messages.append(
                IncomingMessage(
                    body=item.body.encode(),
                    routing_key=item.routing_key,
                    content_type=item.content_type,
                    headers={**item.headers, LINE_HEADER: number},
                )
            )
        if len(messages) + len(bad) >= batch_size:
            total.add(_ingest_lines(messages, bad, name=name))
            messages, bad = [], []
    if messages or bad:
        total.add(_ingest_lines(messages, bad, name=name))
    record(
        action="events.file.ingest",
        actor=actor,
        target_type="event_file",
        target_id=name[:255],
        params={"file": name, **asdict(total)},
    )
    return total


@transaction.atomic
def _ingest_lines(messages: list[IncomingMessage], bad: list[BadLine], *, name: str) -> BatchResult:
    result = apply_event_batch(messages) if messages else BatchResult()
    if not bad:
        return result
    now = timezone.now()
    per_source: dict[str, BatchResult] = defaultdict(BatchResult)
    for line in bad:
        message = IncomingMessage(body=line.raw, headers={LINE_HEADER: line.number})
        _keep_dead_letter(message, f"{name}, line {line.number}: {line.problem}", now)
        counted = per_source[_source_hint(line.raw)]
        counted.received += 1
        counted.dead_letters += 1
        result.received += 1
        result.dead_letters += 1
    _add_to_counters(per_source, {}, now)
    return result
