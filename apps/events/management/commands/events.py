"""Operate the event intake: ``events stats``, ``dead-letters``, ``replay``, ``ingest-file``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from apps.audit.services import Actor
from apps.events.selectors import intake_stats, pending_dead_letters
from apps.events.services import ingest_message_file, replay_dead_letters

# Larger than the intake's batch: a file is a backlog, and the merge's cost per event falls
# with the batch (docs/events.md). Its locks (one per aggregate) stay well inside
# PostgreSQL's lock table beside running consumers.
FILE_BATCH_SIZE = 2000
COUNT_FIELDS = ("received", "applied", "duplicates", "stale", "ignored", "dead_letters")


class Command(BaseCommand):
    help = "Inspect the event intake and replay dead letters."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        stats = sub.add_parser("stats", help="counts and freshness per source")
        stats.add_argument("--json", action="store_true", help="machine-readable output")
        letters = sub.add_parser("dead-letters", help="list dead letters waiting for an operator")
        letters.add_argument("--json", action="store_true")
        letters.add_argument("--limit", type=int, default=100)
        replay = sub.add_parser("replay", help="feed dead letters through the normal path again")
        replay.add_argument("ids", nargs="*", type=int, help="dead letter ids")
        replay.add_argument("--all", action="store_true", help="every pending dead letter")
        ingest = sub.add_parser(
            "ingest-file",
            help="apply a JSON Lines file of contract messages through the intake's batch path",
        )
        ingest.add_argument("path", type=Path)
        ingest.add_argument(
            "--batch-size",
            type=int,
            default=FILE_BATCH_SIZE,
            help=f"messages per transaction (default {FILE_BATCH_SIZE})",
        )

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, "_" + action.replace("-", "_"))(**options)

    def _stats(self, *, json: bool = False, **_: object) -> None:
        stats = intake_stats()
        totals = {name: sum(getattr(s, name) for s in stats) for name in COUNT_FIELDS}
        if json:
            payload = {
                "totals": totals,
                "adds_up": totals["received"] == sum(totals[n] for n in COUNT_FIELDS[1:]),
                "sources": [
                    {
                        **asdict(s),
                        "newest_applied_at": _iso(s.newest_applied_at),
                        "newest_event_time": _iso(s.newest_event_time),
                    }
                    for s in stats
                ],
            }
            self.stdout.write(_dumps(payload))
            return
        if not stats:
            self.stdout.write("No event received yet.")
            return
        header = (
            f"{'source':<28}"
            + "".join(f"{name:>13}" for name in COUNT_FIELDS)
            + f"{'fresh (s)':>11}"
        )
        self.stdout.write(header)
        for s in stats:
            fresh = (
                f"{s.seconds_since_newest_applied:.1f}"
                if s.seconds_since_newest_applied is not None
                else "-"
            )
            self.stdout.write(
                f"{s.source:<28}"
                + "".join(f"{getattr(s, n):>13}" for n in COUNT_FIELDS)
                + f"{fresh:>11}"
            )
        self.stdout.write(f"{'total':<28}" + "".join(f"{totals[n]:>13}" for n in COUNT_FIELDS))

    def _dead_letters(self, *, json: bool = False, limit: int = 100, **_: object) -> None:
        letters = list(pending_dead_letters(limit=limit))
        if json:
            self.stdout.write(
                _dumps(
                    [
                        {
                            "id": d.pk,
                            "routing_key": d.routing_key,
                            "reason": d.reason,
                            "attempts": d.attempts,
                            "first_seen": _iso(d.first_seen),
                            "last_seen": _iso(d.last_seen),
                            "headers": d.headers,
                            "body": d.body_text,
                        }
                        for d in letters
                    ]
                )
            )
            return
        if not letters:
            self.stdout.write("No dead letters waiting.")
            return
        for d in letters:
            self.stdout.write(
                f"#{d.pk}  {d.routing_key or '-'}  attempts={d.attempts}  last seen {d.last_seen:%Y-%m-%d %H:%M:%S}Z\n"
                f"    reason: {d.reason}\n    body:   {d.body_text[:160]}"
            )

    def _ingest_file(self, *, path: Path, batch_size: int, **_: object) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            file = path.open("rb")
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from error
        started = time.monotonic()
        try:
            with file:
                result = ingest_message_file(
                    lines=file, name=str(path), actor=_operator(), batch_size=batch_size
                )
        except (OSError, DatabaseError) as error:
            raise CommandError(
                f"Stopped while ingesting {path}: {error}. The batches before the failure are "
                "committed; running the command again is safe (what is already in is counted "
                "as duplicates)."
            ) from error
        elapsed = time.monotonic() - started
        rate = result.received / elapsed if elapsed > 0 else 0.0
        self.stdout.write(
            f"Ingested {path}: {result.received:,} messages in {elapsed:.1f}s ({rate:,.0f}/s): "
            f"{result.applied:,} applied, {result.stale:,} stale, "
            f"{result.duplicates:,} duplicates, {result.ignored:,} ignored, "
            f"{result.dead_letters:,} dead letters"
        )

    def _replay(self, *, ids: list[int], all: bool = False, **_: object) -> None:
        if not ids and not all:
            raise CommandError("Name dead letter ids, or use --all.")
        if ids and all:
            raise CommandError("Use either ids or --all, not both.")
        outcome = replay_dead_letters(ids=None if all else ids, actor=_operator())
        self.stdout.write(
            f"Resolved {len(outcome['resolved'])}: {outcome['resolved']}\n"
            f"Still failing {len(outcome['still_failing'])}: {outcome['still_failing']}"
        )


def _operator() -> Actor:
    return Actor.system(f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'}")


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _dumps(payload) -> str:
    return json.dumps(payload, indent=2, default=str)
