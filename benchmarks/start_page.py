"""The start page at scale: each role's page and the header search, server time in-process.

    .venv/bin/python -m benchmarks.start_page [--payments 1000000 --accounts 200000 --runs 21]

Loads (generate_series) a million payments, 200,000 accounts, 60,000 refunds
over 30 days, 6,000 refund requests (300 still waiting, decided and executed
ones spread over the month) and 500,000 action-log entries into
``portal_bench_start`` on the server in use, then prints the median full-page
time of ``/`` for an agent, a manager and an auditor — with the charts'
one-minute cache warm (what nearly every request sees) and cold (the request
that refills it) — the queries each page makes, and the header search for
each kind of id. Target: under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchmarks.common import manage, recreate_database
from benchmarks.lists_data import LOAD_SQL

EXTRA_SQL = """
INSERT INTO payments_refund (refund_id, payment_id, amount_cents, currency, status, failure_reason,
    reference, created_at, updated_at, sequence, synced_at)
SELECT md5('r' || i)::uuid, md5('p' || i)::uuid, 100 + i %% 5000,
    (ARRAY['EUR','USD','GBP','JPY','KWD'])[1 + i %% 5],
    (ARRAY['succeeded','succeeded','succeeded','pending','failed'])[1 + i %% 5], '', '',
    now() - ((i %% 43200) || ' minutes')::interval, now(), 1, now()
FROM generate_series(1, %(refunds)s) AS i;

INSERT INTO approvals_refund_request (id, status, reason, requested_by_id, requested_at, expires_at,
    required_approvals, rules_in_force, payload_digest, target_state_digest, checked_at, decided_at,
    submitted_at, completed_at, failure_code, failure_message, payment_id, amount_cents, currency,
    category, refund_id, overridden_belief)
SELECT md5('q' || i)::uuid,
    CASE WHEN i <= %(waiting)s THEN 'requested' ELSE
        (ARRAY['succeeded','succeeded','rejected','failed','cancelled'])[1 + i %% 5] END,
    'reason ' || i, (SELECT id FROM identity_user WHERE username = 'agent'),
    now() - ((i * 7 %% 43200) || ' minutes')::interval, now() + interval '3 days',
    1 + (i %% 7 = 0)::int, '{}', 'x', 'x',
    now() - ((i * 7 %% 43200) || ' minutes')::interval,
    CASE WHEN i <= %(waiting)s THEN NULL ELSE now() - ((i * 7 %% 43200) || ' minutes')::interval + interval '1 hour' END,
    NULL, NULL, '', '', md5('p' || (i * 13))::uuid, 100 + i %% 20000,
    (ARRAY['EUR','USD','GBP','JPY','KWD'])[1 + i %% 5], 'duplicate_charge', NULL, ''
FROM generate_series(1, %(requests)s) AS i;

INSERT INTO audit_entry (sequence, created_at, actor_kind, actor_name, actor_user_id, actor_roles,
    action, target_type, target_id, params, reason, outcome, api_status, api_error_code,
    api_error_message, request_id, client_ip, user_agent, prev_hash, hash)
SELECT i, now() - (((%(entries)s - i) * 5) || ' seconds')::interval, 'user', 'someone', NULL, '{agent}',
    -- An entry every 5 s; a verification every 15 min (full nightly), denials, failed
    -- sign-ins and exports a few percent, as a busy month looks.
    CASE WHEN i %% 180 = 0 THEN 'audit.verify'
         WHEN i %% 50 = 1 THEN 'access.denied'
         WHEN i %% 97 = 2 THEN 'identity.sign_in_failed'
         WHEN i %% 211 = 3 THEN 'payments.export'
         ELSE (ARRAY['refund.request','refund.approve','identity.sign_in','refund.submit'])[1 + i %% 4] END,
    'payment', md5('p' || i),
    jsonb_build_object('full', i %% 17280 = 0, 'intact', true, 'verified_through', i), '',
    (ARRAY['success','success','success','rejected','failed'])[1 + i %% 5], NULL, '', '',
    'req-' || i, NULL, '', '', ''
FROM generate_series(1, %(entries)s) AS i;
"""


def median_ms(client, url: str, runs: int, *, before=None) -> float:
    timings = []
    for _ in range(runs + 2):
        if before:
            before()
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 302), (url, response.status_code)
    return statistics.median(timings[2:])  # the first two warm connections and templates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test", "LOG_LEVEL": "ERROR"}
    env["DATABASE_URL"] = recreate_database(os.environ.get("BENCH_DB", "portal_bench_start"))
    manage("migrate", "-v0", env=env)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.cache import caches
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.identity.models import User

    for username, role in (("agent", "agent"), ("manager", "manager"), ("auditor", "auditor")):
        User.objects.create(username=username, email=f"{username}@example.com", roles=[role])
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL, {"accounts": args.accounts, "payments": args.payments})
        cursor.execute(
            EXTRA_SQL,
            {"refunds": 60_000, "requests": 6_000, "waiting": 300, "entries": 500_000},
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum keeps true of a live database
    print(
        f"loaded {args.accounts:,} accounts, {args.payments:,} payments, 60,000 refunds, "
        f"6,000 refund requests, 500,000 action-log entries in {time.perf_counter() - started:.0f}s",
        flush=True,
    )

    clients = {}
    for username in ("agent", "manager", "auditor"):
        client = Client()
        client.force_login(
            User.objects.get(username=username), backend="django.contrib.auth.backends.ModelBackend"
        )
        clients[username] = client

    print(f"\n{'start page /':<40}{'warm ms':>10}{'cold ms':>10}{'queries':>9}")
    for role, client in clients.items():
        warm = median_ms(client, "/", args.runs)
        cold = median_ms(client, "/", max(args.runs // 3, 5), before=caches["local"].clear)
        with CaptureQueriesContext(connection) as queries:
            client.get("/")
        print(f"{role:<40}{warm:>10.1f}{cold:>10.1f}{len(queries):>9}", flush=True)

    searches = {
        "payment id": "md5('p123457')",
        "payment id prefix (8)": "left(md5('p123457'), 8)",
        "account id prefix (8)": "left(md5('a4242'), 8)",
        "refund id": "md5('r777')",
        "request reference": "md5('q12')",
        "merchant reference": "'ORD-00123457'",
        "customer e-mail": "'owner4242@example.com'",
        "action-log request id": "'req-4242'",
        "unknown id": "'ffffffff-0000-4000-8000-000000000000'",
    }
    print(f"\n{'search (as the auditor)':<40}{'ms':>10}")
    with connection.cursor() as cursor:
        for name, expression in searches.items():
            cursor.execute(f"SELECT ({expression})::text")
            text = cursor.fetchone()[0]
            ms = median_ms(clients["auditor"], f"/search/?q={text}", args.runs)
            print(f"{name:<40}{ms:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
