"""``manage.py audit verify [--json] [--full]``: is the action log intact?"""

from __future__ import annotations

import json
import os

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.services import Actor, verify_chain


class Command(BaseCommand):
    help = "Verify the action log's hash chain."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser(
            "verify", help="walk the chain from the last checkpoint (or from the start)"
        )
        verify.add_argument("--json", action="store_true")
        verify.add_argument(
            "--full", action="store_true", help="ignore checkpoints; verify every entry"
        )

    def handle(self, *args, action: str, json: bool = False, full: bool = False, **options) -> None:
        operator = os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
        report = verify_chain(full=full, actor=Actor.system(f"cli:{operator}"))
        if json:
            self.stdout.write(_dumps(report.as_dict()))
        elif report.intact:
            self.stdout.write(
                f"Intact: verified through entry #{report.verified_through} "
                f"({report.checked} checked from #{report.started_from})."
            )
        else:
            self.stdout.write(f"BROKEN at entry #{report.broken_at}: {report.problem}")
        if not report.intact:
            raise CommandError("the action log's chain is broken", returncode=3)


def _dumps(payload) -> str:
    return json.dumps(payload, indent=2)
