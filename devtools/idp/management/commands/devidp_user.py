"""Change a development IdP user as an administrator would: groups, enabled or disabled."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Set a development IdP user's groups (--groups a,b) or disable/enable them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--groups", help="comma-separated; replaces the user's groups")
        parser.add_argument("--disable", action="store_true")
        parser.add_argument("--enable", action="store_true")

    def handle(
        self, *args, username: str, groups: str | None, disable: bool, enable: bool, **options
    ) -> None:
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        if groups is not None:
            names = [name.strip() for name in groups.split(",") if name.strip()]
            user.groups.set([Group.objects.get_or_create(name=name)[0] for name in names])
        if disable or enable:
            user.is_active = enable
            user.save(update_fields=["is_active"])
        self.stdout.write(
            f"{username}: groups {sorted(user.groups.values_list('name', flat=True))}, "
            f"{'active' if user.is_active else 'disabled'}"
        )
