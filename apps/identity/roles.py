"""The portal's roles. They come from the IdP's group claim at every sign-in."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    AGENT = "agent", "Support agent"
    MANAGER = "manager", "Manager"
    AUDITOR = "auditor", "Auditor"


ALL_ROLES: frozenset[str] = frozenset(Role.values)
# Roles that may start a write action (request a refund, a freeze). Auditors never may.
WRITER_ROLES: frozenset[str] = frozenset({Role.AGENT, Role.MANAGER})
