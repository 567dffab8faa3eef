"""The one recording API of the action log.

Every write path of the portal calls :func:`record` inside the same database
transaction as the change it records.

NOTE: this is the interface only; the append-only, hash-chained storage is
being built (issue "The action log"). Until then entries go to the
``portal.audit`` logger so callers can be written against the final API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.http import HttpRequest

logger = logging.getLogger("portal.audit")


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"


class ActorKind(models.TextChoices):
    USER = "user", "Person"
    SERVICE = "service", "Service"
    SYSTEM = "system", "System (CLI, worker)"


@dataclass(frozen=True)
class Actor:
    """Who acted: a person (with the roles they held at that moment), a calling service, or the system."""

    kind: str
    name: str
    user_id: int | None = None
    roles: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls(
            kind=ActorKind.USER,
            name=user.email or user.get_username(),
            user_id=user.pk,
            roles=tuple(sorted(getattr(user, "roles", []) or [])),
        )

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(kind=ActorKind.SERVICE, name=name)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(kind=ActorKind.SYSTEM, name=name)


def record(
    *,
    action: str,
    actor: Actor,
    target_type: str = "",
    target_id: str = "",
    outcome: str = Outcome.SUCCESS,
    params: dict[str, Any] | None = None,
    reason: str = "",
    request: HttpRequest | None = None,
    api_status: int | None = None,
    api_error_code: str = "",
    api_error_message: str = "",
) -> None:
    """Record one action. ``action`` is a stable dotted name such as ``refund.approve``.

    ``request`` (when the action came through the web) supplies the request id,
    client IP and user agent.
    """
    logger.info(
        "audit %s %s",
        action,
        outcome,
        extra={
            "action": action,
            "actor": actor.name,
            "actor_kind": actor.kind,
            "target_type": target_type,
            "target_id": target_id,
            "outcome": outcome,
            "params": params or {},
            "reason": reason,
            "api_status": api_status,
            "api_error_code": api_error_code,
        },
    )
