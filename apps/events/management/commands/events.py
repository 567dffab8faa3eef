"""Operate the event intake: ``events stats``, ``events dead-letters``, ``events replay``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.services import Actor
from apps.events.selectors import intake_stats, pending_dead_letters
from apps.events.services import replay_dead_letters

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

    def _replay(self, *, ids: list[int], all: bool = False, **_: object) -> None:
        if not ids and not all:
            raise CommandError("Name dead letter ids, or use --all.")
        if ids and all:
            raise CommandError("Use either ids or --all, not both.")
        operator = os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
        outcome = replay_dead_letters(
            ids=None if all else ids, actor=Actor.system(f"cli:{operator}")
        )
        self.stdout.write(
            f"Resolved {len(outcome['resolved'])}: {outcome['resolved']}\n"
            f"Still failing {len(outcome['still_failing'])}: {outcome['still_failing']}"
        )


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _dumps(payload) -> str:
    return json.dumps(payload, indent=2, default=str)
