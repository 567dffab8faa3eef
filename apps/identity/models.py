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


class PortalSession(models.Model):
    """A signed-in browser session of the portal, tied to the IdP sign-in that opened it.

    Written by ``identity.services`` at sign-in and deleted when the session
    ends (sign-out, expiry, back-channel logout, the operator's kill switch).
    It maps the IdP's ``sub``/``sid`` to Django session keys, so a logout at
    the IdP can end exactly those sessions, and keeps the tokens the role
    re-check uses (they are as sensitive as the session itself).
    """

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="portal_sessions")
    idp_subject = models.CharField(max_length=255, db_index=True)
    idp_session_id = models.CharField(max_length=255, blank=True, db_index=True)
    access_token = models.TextField(blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token = models.TextField(blank=True)
    roles_checked_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "identity_portal_session"

    def __str__(self) -> str:
        return f"session of {self.user_id} (sid {self.idp_session_id or '-'})"


class LogoutTokenUse(models.Model):
    """A back-channel logout token already acted on: the same ``jti`` is refused (replay)."""

    issuer = models.CharField(max_length=255)
    jti = models.CharField(max_length=255)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "identity_logout_token_use"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "jti"], name="identity_logout_token_once")
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.jti}"
