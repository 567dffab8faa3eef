"""The one recording API of the action log, and the verification of its chain.

Every write path of the portal calls :func:`record` inside the same database
transaction as the change it records: an action without its entry, or an
entry without its action, cannot exist. Appends are serialised with a
transaction-scoped advisory lock, so concurrent writers still produce one
unbroken, gap-free chain: each entry stores the previous entry's hash and a
SHA-256 over a canonical serialisation of itself.
"""

from __future__ import annotations

import hashlib
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

from apps.audit.models import AuditCheckpoint, AuditEntry
from portal.request_id import current_request_id

logger = logging.getLogger("portal.audit")

GENESIS_HASH = "0" * 64
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


def _entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the canonical serialisation of everything the entry says."""
    canonical = {
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
    text = json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


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


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    verified_through: int
    checked: int
    broken_at: int | None = None
    problem: str = ""
    started_from: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "verified_through": self.verified_through,
            "checked": self.checked,
            "started_from": self.started_from,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


def verify_chain(
    *, full: bool = False, actor: Actor | None = None, chunk_size: int = 5_000
) -> ChainReport:
    """Walk the chain and report intact, or the first broken entry and why.

    Incremental: it starts after the last checkpoint unless ``full``. The run
    is itself recorded (``audit.verify``) and, when intact, checkpointed.
    """
    checkpoint = None if full else AuditCheckpoint.objects.order_by("-verified_through").first()
    expected_sequence = (checkpoint.verified_through if checkpoint else 0) + 1
    expected_prev = checkpoint.verified_hash if checkpoint else GENESIS_HASH
    started_from = expected_sequence
    checked = 0
    report: ChainReport | None = None
    entries = AuditEntry.objects.filter(sequence__gte=expected_sequence).order_by("sequence")
    for entry in entries.iterator(chunk_size=chunk_size):
        checked += 1
        problem = ""
        if entry.sequence != expected_sequence:
            problem = f"entry #{expected_sequence} is missing (the next one is #{entry.sequence})"
            broken_at = expected_sequence
        elif entry.prev_hash != expected_prev:
            problem = f"entry #{entry.sequence} does not follow the previous entry (removed or inserted entries)"
            broken_at = entry.sequence
        elif _entry_hash(entry) != entry.hash:
            problem = f"entry #{entry.sequence} was altered after it was written"
            broken_at = entry.sequence
        if problem:
            report = ChainReport(
                False, expected_sequence - 1, checked, broken_at, problem, started_from
            )
            break
        expected_sequence = entry.sequence + 1
        expected_prev = entry.hash
    if report is None:
        report = ChainReport(True, expected_sequence - 1, checked, started_from=started_from)
    with transaction.atomic():
        if report.intact and report.verified_through:
            AuditCheckpoint.objects.create(
                verified_through=report.verified_through,
                verified_hash=expected_prev,
                verified_at=timezone.now(),
                entries_checked=checked,
            )
        record(
            action="audit.verify",
            actor=actor or Actor.system("audit-verify"),
            outcome=Outcome.SUCCESS if report.intact else Outcome.FAILED,
            params=report.as_dict() | {"full": full},
            reason=report.problem,
        )
    if not report.intact:
        logger.error("action log chain broken: %s", report.problem)
    return report


# --- what people do with the log ----------------------------------------------------------


# Every field of an entry, in the order exports (CSV, the action-log report) write them.
EXPORT_COLUMNS = (
    "sequence",
    "created_at",
    "actor_kind",
    "actor_name",
    "actor_roles",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "reason",
    "params",
    "api_status",
    "api_error_code",
    "api_error_message",
    "request_id",
    "client_ip",
    "user_agent",
    "prev_hash",
    "hash",
)


def export_entries_csv(*, user: Any, params: Any, request: HttpRequest | None = None):
    """Exactly the filtered view of the log as CSV, streamed; the export is itself recorded."""
    from apps.audit.selectors import filtered_entries
    from apps.home.csv_export import csv_lines, export_filters

    entries = filtered_entries(user, params)
    record(
        action="audit.export",
        actor=Actor.for_user(user),
        target_type="action_log",
        params={"filters": export_filters(params)},
        request=request,
    )
    columns = EXPORT_COLUMNS

    def rows():
        for e in entries.iterator(chunk_size=2_000):
            yield [
                e.sequence,
                e.created_at.isoformat(),
                e.actor_kind,
                e.actor_name,
                " ".join(e.actor_roles),
                e.action,
                e.target_type,
                e.target_id,
                e.outcome,
                e.reason,
                json.dumps(e.params, sort_keys=True),
                e.api_status or "",
                e.api_error_code,
                e.api_error_message,
                e.request_id,
                e.client_ip or "",
                e.user_agent,
                e.prev_hash,
                e.hash,
            ]

    return csv_lines(columns, rows())


def request_verification(*, user: Any, request: HttpRequest | None = None) -> None:
    """Ask for a background verification of the whole chain (runs as a Celery task)."""
    from apps.audit.tasks import verify_audit_chain

    with transaction.atomic():
        record(
            action="audit.verify.requested",
            actor=Actor.for_user(user),
            target_type="action_log",
            request=request,
        )
        requested_by = user.email or user.get_username()
        transaction.on_commit(
            lambda: verify_audit_chain.delay(full=True, requested_by=requested_by)
        )
