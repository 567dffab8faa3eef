"""The list benchmark's data: 1,000,000 payments over 50,000 accounts, made by generate_series.

Shaped so the hard cases exist: currencies are skewed (KWD about 2 % of
accounts) and statuses too (``partially_refunded`` about 2 %), so "a rare
status in KWD" matches a few hundred rows among a million; payments spread over
a year, with merchant references ``INV-<yyyymm>-<n>`` of their month, so an old
month's prefix sits behind hundreds of thousands of newer rows. The data is
kept between runs: a database that already holds it is reused.
"""

from __future__ import annotations

import time

import psycopg

# Account i's currency, from i alone, so payments can compute it without a join.
CURRENCY_OF = """(CASE WHEN ({n} * 7) %% 100 < 50 THEN 'EUR' WHEN ({n} * 7) %% 100 < 75 THEN 'USD'
    WHEN ({n} * 7) %% 100 < 90 THEN 'GBP' WHEN ({n} * 7) %% 100 < 98 THEN 'JPY' ELSE 'KWD' END)"""

LOAD_SQL = f"""
INSERT INTO accounts_account (account_id, owner_id, owner_name, owner_email, currency, balance_cents,
    status, created_at, updated_at, sequence, synced_at)
SELECT md5('a' || i)::uuid, md5('o' || i)::uuid, 'Owner ' || i, 'owner' || i || '@example.com',
    {CURRENCY_OF.format(n="i")}, (i::bigint * 37) %% 1000000,
    CASE WHEN i %% 20 = 0 THEN 'frozen' WHEN i %% 20 = 1 THEN 'closed' ELSE 'active' END,
    now() - make_interval(secs => i * 1261), now(), 1, now()
FROM generate_series(1, %(accounts)s) AS i;

INSERT INTO payments_payment (payment_id, account_id, amount_cents, refunded_cents, currency, status,
    description, merchant_reference, created_at, updated_at, sequence, synced_at)
SELECT md5('p' || i)::uuid, md5('a' || a)::uuid, amount,
    CASE WHEN status = 'refunded' THEN amount WHEN status = 'partially_refunded' THEN amount / 2 ELSE 0 END,
    {CURRENCY_OF.format(n="a")}, status, 'Order ' || i,
    'INV-' || to_char(created, 'YYYYMM') || '-' || lpad(i::text, 7, '0'),
    created, created, 3, now()
FROM (
    SELECT i, 1 + (i::bigint * 7919) %% %(accounts)s AS a, 100 + (i::bigint * 104729) %% 500000 AS amount,
        CASE WHEN (i::bigint * 48271 %% 2147483647) %% 100 < 70 THEN 'settled' WHEN (i::bigint * 48271 %% 2147483647) %% 100 < 80 THEN 'authorized'
             WHEN (i::bigint * 48271 %% 2147483647) %% 100 < 88 THEN 'pending' WHEN (i::bigint * 48271 %% 2147483647) %% 100 < 95 THEN 'failed'
             WHEN (i::bigint * 48271 %% 2147483647) %% 100 < 98 THEN 'refunded' ELSE 'partially_refunded' END AS status,
        now() - make_interval(secs => i * 31.5) AS created
    FROM generate_series(1, %(payments)s) AS i
) AS generated;

INSERT INTO events_intake_counter (source, received, applied, duplicates, stale, ignored, dead_letters,
    newest_applied_at, newest_event_time)
VALUES ('bench', %(payments)s, %(payments)s, 0, 0, 0, 0, now(), now())
ON CONFLICT DO NOTHING;
"""


def loaded(url: str, *, accounts: int, payments: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM accounts_account), (SELECT count(*) FROM payments_payment)"
        ).fetchone()
    return row == (accounts, payments)


def load(url: str, *, accounts: int, payments: int) -> float:
    """Fill empty tables (seconds taken); VACUUM so index-only scans and counts see all-visible pages."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE accounts_account, payments_payment")
        for statement in LOAD_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"accounts": accounts, "payments": payments})
        conn.execute("VACUUM ANALYZE accounts_account")
        conn.execute("VACUUM ANALYZE payments_payment")
    return time.perf_counter() - started
