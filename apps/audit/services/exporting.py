"""The action log exported: the filtered view as CSV, every entry with its hash inputs as JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from apps.audit import offline_verify
from apps.audit.models import AuditEntry
from apps.audit.services.recording import Actor, _timestamp, hash_inputs, record
from apps.audit.signing import (
    configured_public_key,
)

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


def export_entries_jsonl(
    *,
    actor: Actor,
    user: Any | None = None,
    params: Any = None,
    request: HttpRequest | None = None,
) -> Iterator[str]:
    """The log as JSON Lines with each entry's hash inputs, in chain order; the export is recorded.

    What ``python -m apps.audit.offline_verify`` reads. With ``user``, the
    entries that person may see through ``params`` (the web view's filters);
    without, the whole log (``manage.py audit export --jsonl``).
    """
    from apps.audit.selectors import filtered_entries
    from apps.home.csv_export import export_filters

    filters = export_filters(params) if params is not None else {}
    entries = filtered_entries(user, params) if user is not None else AuditEntry.objects.all()
    record(
        action="audit.export",
        actor=actor,
        target_type="action_log",
        params={"filters": filters, "format": "jsonl"},
        request=request,
    )
    public_key = configured_public_key()
    header = {
        "format": offline_verify.EXPORT_FORMAT,
        "exported_at": _timestamp(timezone.now()),
        "filters": filters,
        "public_key_fingerprint": (
            offline_verify.public_key_fingerprint(public_key) if public_key else None
        ),
    }

    def lines() -> Iterator[str]:
        yield json.dumps(header, sort_keys=True) + "\n"
        for entry in entries.order_by("sequence").iterator(chunk_size=2_000):
            line = hash_inputs(entry) | {"hash": entry.hash}
            yield json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n"

    return lines()
