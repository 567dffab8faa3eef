"""The one recording API of the action log, and the verification of its chain.

Every write path of the portal calls :func:`record` inside the same database
transaction as the change it records: an action without its entry, or an
entry without its action, cannot exist. Appends are serialised with a
transaction-scoped advisory lock, so concurrent writers still produce one
unbroken, gap-free chain: each entry stores the previous entry's hash and a
SHA-256 over a canonical serialisation of itself.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit import offline_verify
from apps.audit.models import AuditEntry
from portal.request_id import current_request_id

logger = logging.getLogger("portal.audit")

GENESIS_HASH = offline_verify.GENESIS_HASH
# Any fixed 64-bit number; it names "the action log's tail" for pg_advisory_xact_lock.
CHAIN_LOCK_KEY = 0x5041_5544_4954  # "PAUDIT"

F = TypeVar("F", bound=Callable[..., Any])


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


def not_audited(reason: str) -> Callable[[F], F]:
    """Mark a public service function that writes nothing a person did (with the reason why).

    The test ``tests/audit/test_every_write_is_recorded.py`` requires every
    public function in ``apps/*/services.py`` to call :func:`record` or carry
    this mark.
    """

    def mark(function: F) -> F:
        function.not_audited_reason = reason  # type: ignore[attr-defined]
        return function

    return mark


# --- where the request came from ---------------------------------------------------------


def _client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or — only when configured — a trusted proxy header.

    ``PORTAL_CLIENT_IP_HEADER`` (e.g. ``X-Forwarded-For``) is read only if set,
    taking the address ``PORTAL_TRUSTED_PROXY_COUNT`` hops from the right, so
    a client cannot choose what is recorded by sending the header itself.
    """
    header = settings.PORTAL_CLIENT_IP_HEADER
    candidate = request.META.get("REMOTE_ADDR", "")
    if header:
        raw = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        hops = [part.strip() for part in raw.split(",") if part.strip()]
        position = settings.PORTAL_TRUSTED_PROXY_COUNT
        if len(hops) >= position > 0:
            candidate = hops[-position]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


# --- the chain ---------------------------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@not_audited(reason="reads an entry")
def hash_inputs(entry: AuditEntry) -> dict[str, Any]:
    """Everything the entry says, as its hash covers it (and the JSON Lines export carries it)."""
    return {
        "sequence": entry.sequence,
        "created_at": _timestamp(entry.created_at),
        "actor": [
            entry.actor_kind,
            entry.actor_name,
            entry.actor_user_id,
            sorted(entry.actor_roles),
        ],
        "action": entry.action,
        "target": [entry.target_type, entry.target_id],
        "params": entry.params,
        "reason": entry.reason,
        "outcome": entry.outcome,
        "api": [entry.api_status, entry.api_error_code, entry.api_error_message],
        "origin": [entry.request_id, entry.client_ip, entry.user_agent],
        "prev_hash": entry.prev_hash,
    }


def _entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the canonical serialisation of everything the entry says.

    The serialisation lives in :mod:`apps.audit.offline_verify`, which auditors
    run on their own machines: one definition for both sides.
    """
    return offline_verify.entry_hash(hash_inputs(entry))


def _json_safe(value: Any) -> Any:
    """Params as they will read back from jsonb (so the hash computed now matches later)."""
    return json.loads(json.dumps(value or {}, default=str))


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
) -> AuditEntry:
    """Append one entry. ``action`` is a stable dotted name such as ``refund.approve``.

    Runs in the caller's transaction (or its own, when there is none); the
    chain lock is held until that transaction ends.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
            cursor.execute("SELECT sequence, hash FROM audit_entry ORDER BY sequence DESC LIMIT 1")
            tail = cursor.fetchone()
        sequence, prev_hash = (tail[0] + 1, tail[1]) if tail else (1, GENESIS_HASH)
        entry = AuditEntry(
            sequence=sequence,
            created_at=timezone.now(),
            actor_kind=actor.kind,
            actor_name=actor.name[:320],
            actor_user_id=actor.user_id,
            actor_roles=list(actor.roles),
            action=action,
            target_type=target_type[:50],
            target_id=str(target_id)[:255],
            params=_json_safe(params),
            reason=reason or "",
            outcome=str(outcome),
            api_status=api_status,
            api_error_code=api_error_code[:100],
            api_error_message=api_error_message or "",
            request_id=(getattr(request, "request_id", None) or current_request_id() or "")[:128],
            client_ip=_client_ip(request) if request is not None else None,
            user_agent=(request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[
                :512
            ],
            prev_hash=prev_hash,
        )
        entry.hash = _entry_hash(entry)
        entry.save(force_insert=True)
    return entry


# --- verification ------------------------------------------------------------------------
