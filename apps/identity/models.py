"""People who sign in to the portal.

Rows are created and updated only at sign-in (from the IdP's claims); the
``roles`` column is rewritten from the group claim every time, so a group
removed at the IdP removes the role at the next sign-in.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.identity.roles import Role


class User(AbstractUser):
    roles = ArrayField(
        models.CharField(max_length=16, choices=Role.choices),
        default=list,
        blank=True,
        help_text="Portal roles mapped from the IdP's groups at the last sign-in.",
    )
    idp_groups = ArrayField(
        models.CharField(max_length=255),
        default=list,
        blank=True,
        help_text="The group claim as the IdP sent it at the last sign-in.",
    )
    roles_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "identity_user"

    def has_role(self, *roles: str) -> bool:
        """True if the user holds at least one of ``roles``."""
        return bool(set(self.roles) & set(roles))

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email or self.username

    @property
    def role_labels(self) -> list[str]:
        return [Role(role).label for role in Role.values if role in self.roles]
