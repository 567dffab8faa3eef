"""Writes that concern identity: roles from the IdP, sign-in bookkeeping, access decisions.

Roles are re-read from the IdP's group claim at every sign-in: a group
removed at the IdP removes the role at the next sign-in. Every sign-in,
sign-out, role change and refused access is recorded in the action log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.services import Actor, Outcome, not_audited, record
from apps.identity.role_mapping import parse_role_groups, roles_for_groups

logger = logging.getLogger("portal.access")

AUTH_TIME_KEY = "portal_auth_time"
IDP_AUTH_TIME_KEY = "portal_idp_auth_time"


def sync_roles(*, user: Any, groups: Sequence[str], request: HttpRequest | None = None) -> bool:
    """Set the user's roles from their IdP groups; record a change. Returns True if roles changed."""
    mapping = parse_role_groups(settings.PORTAL_ROLE_GROUPS)
    new_roles = roles_for_groups(groups, mapping)
    old_roles = sorted(user.roles or [])
    changed = new_roles != old_roles
    user.roles = new_roles
    user.idp_groups = list(groups)
    user.roles_synced_at = timezone.now()
    if user.pk is None:
        return changed  # a new user: saved by the sign-up that follows, recorded at sign-in
    with transaction.atomic():
        user.save(update_fields=["roles", "idp_groups", "roles_synced_at"])
        if changed:
            record(
                action="identity.roles_changed",
                actor=Actor.system("sso"),
                target_type="user",
                target_id=str(user.pk),
                params={"old_roles": old_roles, "new_roles": new_roles, "groups": list(groups)},
                request=request,
            )
    return changed


@not_audited("keeps a claim in the session for record_sign_in, which records the sign-in")
def note_idp_auth_time(request: HttpRequest, auth_time: Any) -> None:
    """Keep the ID token's ``auth_time`` (seconds since the epoch) for :func:`record_sign_in`."""
    if isinstance(auth_time, int | float) and not isinstance(auth_time, bool):
        request.session[IDP_AUTH_TIME_KEY] = float(auth_time)


def record_sign_in(*, request: HttpRequest, user: Any) -> None:
    """The sign-in's moment for step-up: the IdP's ``auth_time`` when it gave one, else now."""
    moment = timezone.now()
    idp_auth_time = request.session.pop(IDP_AUTH_TIME_KEY, None)
    if idp_auth_time is not None:
        moment = min(moment, datetime.fromtimestamp(idp_auth_time, tz=UTC))
    request.session[AUTH_TIME_KEY] = moment.isoformat()
    record(
        action="identity.sign_in",
        actor=Actor.for_user(user),
        target_type="user",
        target_id=str(user.pk),
        params={"roles": sorted(user.roles or []), "groups": list(user.idp_groups or [])},
        request=request,
    )


def record_sign_out(*, request: HttpRequest, user: Any, reason: str = "") -> None:
    record(
        action="identity.sign_out",
        actor=Actor.for_user(user),
        target_type="user",
        target_id=str(user.pk),
        reason=reason,
        request=request,
    )


def record_sign_in_failed(*, request: HttpRequest, error: str) -> None:
    record(
        action="identity.sign_in_failed",
        actor=Actor.system("sso"),
        outcome=Outcome.REJECTED,
        reason=error[:500],
        request=request,
    )


def record_access_denied(*, request: HttpRequest, required_roles: Sequence[str]) -> None:
    user = request.user
    actor = Actor.for_user(user) if user.is_authenticated else Actor.system("anonymous")
    record(
        action="access.denied",
        actor=actor,
        target_type="url",
        target_id=request.path[:255],
        outcome=Outcome.REJECTED,
        params={"method": request.method, "required_roles": list(required_roles)},
        request=request,
    )
