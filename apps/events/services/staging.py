"""How a batch reaches the read models: staging tables, COPY, and one merge per read model.

Every event of a batch is ``COPY``-ed (binary) into a temporary staging table
of its kind, then one ``INSERT … SELECT DISTINCT ON … ON CONFLICT … DO UPDATE
… WHERE sequence < EXCLUDED.sequence`` per read model merges the winners, and
one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` appends to the ledger
(``apps.events.services.applying`` runs them in order).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection, transaction


@dataclass(frozen=True)
class ReadModel:
    table: str
    pk: str
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL array type)


READ_MODELS: dict[str, ReadModel] = {
    "account": ReadModel(
        table="accounts_account",
        pk="account_id",
        columns=(
            ("account_id", "uuid"),
            ("owner_id", "uuid"),
            ("owner_name", "text"),
            ("owner_email", "text"),
            ("currency", "text"),
            ("balance_cents", "bigint"),
            ("status", "text"),
            ("created_at", "timestamptz"),
            ("updated_at", "timestamptz"),
        ),
    ),
    "payment": ReadModel(
        table="payments_payment",
        pk="payment_id",
        columns=(
            ("payment_id", "uuid"),
            ("account_id", "uuid"),
            ("amount_cents", "bigint"),
            ("refunded_cents", "bigint"),
            ("currency", "text"),
            ("status", "text"),
            ("description", "text"),
            ("merchant_reference", "text"),
            ("created_at", "timestamptz"),
            ("updated_at", "timestamptz"),
        ),
    ),
    "refund": ReadModel(
        table="payments_refund",
        pk="refund_id",
        columns=(
            ("refund_id", "uuid"),
            ("payment_id", "uuid"),
            ("amount_cents", "bigint"),
            ("currency", "text"),
            ("status", "text"),
            ("failure_reason", "text"),
            ("reference", "text"),
            ("created_at", "timestamptz"),
            ("updated_at", "timestamptz"),
        ),
    ),
}


def _stage_table(name: str) -> str:
    return f"intake_stage_{name}"


def _merge_sql(kind: str, model: ReadModel) -> str:
    names = [name for name, _ in model.columns] + ["sequence", "synced_at"]
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name != model.pk)
    columns = ", ".join(names)
    # Every event of the batch is staged; per aggregate the highest sequence wins, the first
    # to arrive among equals — the same event ``_classify`` names the winner.
    return (
        f"INSERT INTO {model.table} ({columns}) "  # noqa: S608 — identifiers are constants above
        f"SELECT DISTINCT ON ({model.pk}) {columns} FROM {_stage_table(kind)} "
        f"ORDER BY {model.pk}, sequence DESC, position "
        f"ON CONFLICT ({model.pk}) DO UPDATE SET {updates} "
        f"WHERE {model.table}.sequence < EXCLUDED.sequence"
    )


LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "text"),
    ("event_id", "text"),
    ("type", "text"),
    ("subject", "uuid"),
    ("sequence", "bigint"),
    ("occurred_at", "timestamptz"),
    ("outcome", "text"),
    ("data", "text"),
)
# Types as COPY needs them, per staging table; ``position`` is the event's place in the batch.
STAGE_TYPES: dict[str, list[str]] = {
    **{
        kind: [kind_type for _, kind_type in model.columns] + ["bigint", "timestamptz", "int4"]
        for kind, model in READ_MODELS.items()
    },
    "ledger": [kind_type for _, kind_type in LEDGER_COLUMNS] + ["int4"],
}
STAGE_COLUMNS: dict[str, list[str]] = {
    **{
        kind: [name for name, _ in model.columns] + ["sequence", "synced_at", "position"]
        for kind, model in READ_MODELS.items()
    },
    "ledger": [name for name, _ in LEDGER_COLUMNS] + ["position"],
}
MERGES = {kind: _merge_sql(kind, model) for kind, model in READ_MODELS.items()}
# Staged before the outcomes are known ("applied", or "ignored" for unknown types); the
# positions of the stale ones are the statement's first parameter.
LEDGER_MERGE = (
    "INSERT INTO events_received_event "  # noqa: S608 — identifiers are constants
    "(source, event_id, type, subject, sequence, occurred_at, outcome, data, received_at) "
    "SELECT source, event_id, type, subject, sequence, occurred_at, "
    "CASE WHEN position = ANY(%b::int4[]) THEN 'stale' ELSE outcome END, data::jsonb, %b "
    f"FROM {_stage_table('ledger')} "
    "ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id"
)


def _bulk_cursor() -> psycopg.Cursor:
    """A server-side-binding cursor on Django's connection (inside its transaction).

    Django's psycopg backend binds parameters on the client, quoting and
    escaping every array element in Python; for arrays of hundreds of values
    that costs more than the statement itself. The bulk statements below send
    their arrays as binary parameters (``%b``) or rows by binary ``COPY``.
    """
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


CREATE_STAGING = "; ".join(
    [
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_stage_table(name)} ("
        + ", ".join(
            f"{column} {kind}" for column, kind in zip(columns, STAGE_TYPES[name], strict=True)
        )
        + ") ON COMMIT DELETE ROWS"
        for name, columns in STAGE_COLUMNS.items()
    ]
    # Safety nets for locks nobody should hold long: a batch waits at most this long for
    # another batch's aggregates (then it is held and retried), and a session whose process
    # vanished mid-transaction without PostgreSQL noticing loses its locks after a minute.
    + ["SET lock_timeout = '30s'", "SET idle_in_transaction_session_timeout = '60s'"]
)


def _create_staging() -> None:
    """This connection's staging tables (temporary: private, emptied at commit) and lock limits, once.

    Only a commit makes them last: a batch rolled back in the transaction that
    created them takes them away again, so the mark is set on commit.
    """
    raw = connection.connection
    if getattr(raw, "intake_staging_ready", False):
        return
    with _bulk_cursor() as cursor:
        cursor.execute(CREATE_STAGING)
    transaction.on_commit(lambda: setattr(raw, "intake_staging_ready", True))


def _copy_rows(cursor: psycopg.Cursor, name: str, rows: Iterable[Sequence[Any]]) -> None:
    columns = ", ".join(STAGE_COLUMNS[name])
    with cursor.copy(f"COPY {_stage_table(name)} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(STAGE_TYPES[name])
        for row in rows:
            copy.write_row(row)
