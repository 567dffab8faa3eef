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
    # to arrive among equals (``_batch_winners``). Returns the subjects it changed.
    return (
        f"INSERT INTO {model.table} ({columns}) "  # noqa: S608 — identifiers are constants above
        f"SELECT DISTINCT ON ({model.pk}) {columns} FROM {_stage_table(kind)} "
        f"ORDER BY {model.pk}, sequence DESC, position "
        f"ON CONFLICT ({model.pk}) DO UPDATE SET {updates} "
        f"WHERE {model.table}.sequence < EXCLUDED.sequence "
        f"RETURNING {model.pk}"
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
# Types as COPY needs them, per staging table; ``position`` is the event's place in the batch,
# and a ledger row's ``kind`` names the read model its ``subject`` is in (none: an unknown type).
STAGE_TYPES: dict[str, list[str]] = {
    **{
        kind: [kind_type for _, kind_type in model.columns] + ["bigint", "timestamptz", "int4"]
        for kind, model in READ_MODELS.items()
    },
    "ledger": [kind_type for _, kind_type in LEDGER_COLUMNS] + ["text", "int4"],
}
STAGE_COLUMNS: dict[str, list[str]] = {
    **{
        kind: [name for name, _ in model.columns] + ["sequence", "synced_at", "position"]
        for kind, model in READ_MODELS.items()
    },
    "ledger": [name for name, _ in LEDGER_COLUMNS] + ["kind", "position"],
}
# Filled by the ledger append (what each new ledger row's outcome was), read by the counters.
OUTCOME_TABLE = _stage_table("outcome")
OUTCOME_COLUMNS = "source text, outcome text, occurred_at timestamptz"
MERGES = {kind: _merge_sql(kind, model) for kind, model in READ_MODELS.items()}

_STORED_SEQUENCE = "CASE s.kind {} END".format(
    " ".join(
        f"WHEN '{kind}' THEN (SELECT m.sequence FROM {model.table} m "  # noqa: S608 — constants
        f"WHERE m.{model.pk} = s.subject)"
        for kind, model in READ_MODELS.items()
    )
)
# Appends the batch's new events to the ledger, each with its outcome, decided in the
# statement: *applied* if its sequence is above both the stored one (read after the
# aggregate locks are held, before this batch's merges) and every earlier event of the batch
# for the same subject — as if applied one by one in arrival order — else *stale*; unknown
# types stay *ignored*. A row already in the ledger (a redelivery) is not appended, and is
# not in the outcome table: the counters call it a duplicate.
LEDGER_APPEND = (
    "WITH staged AS ("  # noqa: S608 — identifiers are constants
    f"SELECT s.*, {_STORED_SEQUENCE} AS stored, "
    "max(s.sequence) OVER (PARTITION BY s.kind, s.subject ORDER BY s.position "
    "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier "
    f"FROM {_stage_table('ledger')} s), "
    "appended AS (INSERT INTO events_received_event "
    "(source, event_id, type, subject, sequence, occurred_at, outcome, data, received_at) "
    "SELECT source, event_id, type, subject, sequence, occurred_at, "
    "CASE WHEN kind IS NULL THEN outcome "
    "WHEN sequence > COALESCE(GREATEST(stored, earlier), 0) THEN 'applied' ELSE 'stale' END, "
    "data::jsonb, %(now)s FROM staged ORDER BY position "
    "ON CONFLICT (source, event_id) DO NOTHING RETURNING source, outcome, occurred_at) "
    f"INSERT INTO {OUTCOME_TABLE} (source, outcome, occurred_at) "
    "SELECT source, outcome, occurred_at FROM appended"
)
# The per-source counters and this consumer's heartbeat, from what the batch received (the
# parameters) and the outcomes above; returns each source's applied, stale and ignored.
COUNT_AND_BEAT = (
    # Taken out of the outcome table, so a second batch in the same transaction (a replay
    # of several dead letters) counts only its own.
    f"WITH taken AS (DELETE FROM {OUTCOME_TABLE} RETURNING source, outcome, occurred_at), "  # noqa: S608
    "outcomes AS (SELECT source, "
    "count(*) FILTER (WHERE outcome = 'applied') AS applied, "
    "count(*) FILTER (WHERE outcome = 'stale') AS stale, "
    "count(*) FILTER (WHERE outcome = 'ignored') AS ignored, "
    "max(occurred_at) FILTER (WHERE outcome = 'applied') AS newest "
    "FROM taken GROUP BY source), "
    "batch AS (SELECT g.source, g.received, g.dead_letters, "
    "COALESCE(o.applied, 0) AS applied, COALESCE(o.stale, 0) AS stale, "
    "COALESCE(o.ignored, 0) AS ignored, o.newest "
    "FROM unnest(%(sources)b::text[], %(received)b::bigint[], %(dead_letters)b::bigint[]) "
    "AS g(source, received, dead_letters) LEFT JOIN outcomes o USING (source)), "
    "counted AS (INSERT INTO events_intake_counter AS c "
    "(source, received, applied, duplicates, stale, ignored, dead_letters, "
    "newest_applied_at, newest_event_time) "
    "SELECT source, received, applied, received - dead_letters - applied - stale - ignored, "
    "stale, ignored, dead_letters, CASE WHEN applied > 0 THEN %(now)s END, newest "
    "FROM batch ORDER BY source "
    "ON CONFLICT (source) DO UPDATE SET "
    "received = c.received + EXCLUDED.received, applied = c.applied + EXCLUDED.applied, "
    "duplicates = c.duplicates + EXCLUDED.duplicates, stale = c.stale + EXCLUDED.stale, "
    "ignored = c.ignored + EXCLUDED.ignored, "
    "dead_letters = c.dead_letters + EXCLUDED.dead_letters, "
    "newest_applied_at = GREATEST(c.newest_applied_at, EXCLUDED.newest_applied_at), "
    "newest_event_time = GREATEST(c.newest_event_time, EXCLUDED.newest_event_time)), "
    "beat AS (INSERT INTO events_intake_heartbeat AS h "
    "(consumer, seen_at, last_batch_at, last_batch_lag_seconds) "
    "SELECT %(consumer)s::text, %(now)s, CASE WHEN max(newest) IS NOT NULL THEN %(now)s END, "
    "GREATEST(EXTRACT(EPOCH FROM %(now)s - max(newest)), 0)::float8 "
    "FROM batch HAVING %(consumer)s::text <> '' "
    "ON CONFLICT (consumer) DO UPDATE SET seen_at = EXCLUDED.seen_at, "
    "last_batch_at = COALESCE(EXCLUDED.last_batch_at, h.last_batch_at), "
    "last_batch_lag_seconds = COALESCE(EXCLUDED.last_batch_lag_seconds, "
    "h.last_batch_lag_seconds)) "
    "SELECT source, applied, stale, ignored FROM batch"
)


# Takes the staged rows of the events a batch holds back (another batch holds their
# aggregates) out of every staging table; they are applied in the next transaction.
_DROP = "{0} AS (DELETE FROM {1} WHERE position = ANY(%(positions)b::int4[]))"
DROP_STAGED = (
    "WITH "
    + ", ".join(_DROP.format(name, _stage_table(name)) for name in STAGE_COLUMNS)
    + " SELECT 1"
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
    + [
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {OUTCOME_TABLE} ({OUTCOME_COLUMNS}) ON COMMIT DELETE ROWS"
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
