"""``manage.py identity end-sessions <username|email>``: the operator's kill switch."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.identity.models import User
from apps.identity.services import end_sessions_of_person


class Command(BaseCommand):
    help = "Identity operations."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        end = sub.add_parser(
            "end-sessions",
            help="end every portal session of a person now (recorded in the action log)",
        )
        end.add_argument("person", help="username or e-mail address")

    def handle(self, *args, action: str, person: str, **options) -> None:
        operator = os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
        try:
            count = end_sessions_of_person(person=person, operator=operator)
        except User.DoesNotExist as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Ended {count} session{'s' if count != 1 else ''} of {person}.")
