"""List pages at scale: the portal's payments list against Django's stock admin, same data, same run.

    .venv/bin/python -m benchmarks.lists [--accounts 200000 --payments 1000000 --runs 15]

Loads the rows with generate_series into ``portal_bench_lists`` (on the server
in use) and times, server-side and in-process (Django test client, full page
rendered), the median of each page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchmarks.common import manage, recreate_database

LOAD_SQL = """
INSERT INTO accounts_account (account_id, owner_id, owner_name, owner_email, currency, balance_cents,
    status, created_at, updated_at, sequence, synced_at)
SELECT md5('a' || i)::uuid, md5('o' || i)::uuid, 'Owner ' || i, 'owner' || i || '@example.com',
    (ARRAY['EUR','USD','GBP','JPY','KWD'])[1 + i %% 5], (i * 37) %% 1000000,
    (ARRAY['active','active','active','frozen','closed'])[1 + i %% 5],
    now() - (i || ' minutes')::interval, now(), 1, now()
FROM generate_series(1, %(accounts)s) AS i;

INSERT INTO payments_payment (payment_id, account_id, amount_cents, refunded_cents, currency, status,
    description, merchant_reference, created_at, updated_at, sequence, synced_at)
SELECT md5('p' || i)::uuid, md5('a' || (1 + i %% %(accounts)s))::uuid, 100 + (i::bigint * 7919) %% 500000, 0,
    (ARRAY['EUR','USD','GBP','JPY','KWD'])[1 + (1 + i %% %(accounts)s) %% 5],
    (ARRAY['settled','settled','settled','authorized','pending','failed','refunded','partially_refunded'])[1 + i %% 8],
    'Order ' || i, 'ORD-' || lpad(i::text, 8, '0'),
    now() - (i || ' seconds')::interval, now(), 3, now()
FROM generate_series(1, %(payments)s) AS i;
ANALYZE accounts_account;
ANALYZE payments_payment;
"""


def median_ms(client, url: str, runs: int) -> float:
    timings = []
    for _ in range(runs + 2):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(timings[2:])  # the first two warm caches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.list_settings", "LOG_LEVEL": "ERROR"}
    env["DATABASE_URL"] = recreate_database("portal_bench_lists")
    manage("migrate", "-v0", env=env)
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from apps.identity.models import User
    from apps.payments.models import Payment

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL, {"accounts": args.accounts, "payments": args.payments})
    print(
        f"loaded {args.accounts:,} accounts and {args.payments:,} payments in {time.perf_counter() - started:.0f}s",
        flush=True,
    )

    person = User.objects.create(
        username="bench",
        email="bench@example.com",
        roles=["agent"],
        is_staff=True,
        is_superuser=True,
    )
    client = Client()
    client.force_login(person, backend="django.contrib.auth.backends.ModelBackend")
    deep = Payment.objects.order_by("-created_at", "-payment_id").values_list(
        "created_at", "payment_id"
    )[2_000 * 50]
    from apps.home.paging import encode_cursor

    prefix = str(
        Payment.objects.order_by("payment_id").values_list("payment_id", flat=True)[500_000]
    )[:6]
    portal = {
        "first page": "/payments/",
        "filtered + sorted (settled, by amount)": "/payments/?status=settled&sort=-amount_cents",
        "search by id prefix": f"/payments/?q={prefix}",
        "deep page (2,000 pages in, keyset)": f"/payments/?after={encode_cursor(*deep)}",
    }
    admin = {
        "first page": "/admin/payments/payment/",
        "filtered + sorted (settled, by amount)": "/admin/payments/payment/?status__exact=settled&o=-3",
        "search by id prefix": f"/admin/payments/payment/?q={prefix}",
        "deep page (2,000 pages in, keyset)": "/admin/payments/payment/?p=2000",
    }
    print(f"\n{'page':<42}{'portal ms':>12}{'admin ms':>12}{'ratio':>8}")
    for name, url in portal.items():
        ours = median_ms(client, url, args.runs)
        theirs = median_ms(client, admin[name], max(args.runs // 3, 3))
        print(f"{name:<42}{ours:>12.1f}{theirs:>12.1f}{theirs / ours:>7.1f}x", flush=True)


if __name__ == "__main__":
    main()
