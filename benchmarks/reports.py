"""Reports at scale: a 1,000,000-row payments report built in constant memory.

    .venv/bin/python -m benchmarks.reports [--payments 1000000 --xlsx]

Loads the payments with generate_series into ``portal_bench_reports`` (on the
server in use), then builds the payments report over all of them in-process
with the same service the Celery task calls (``generate_report``), and prints
the time and the process's peak memory during the build (RSS high-water
mark, reset before each build) next to its memory before it. A smaller
report first shows that the peak does not grow with the number of rows.
``--tracemalloc`` also reports Python's own peak allocations (slower).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import manage, recreate_database

START = datetime(2026, 1, 1, tzinfo=UTC)

LOAD_SQL = """
INSERT INTO payments_payment (payment_id, account_id, amount_cents, refunded_cents, currency, status,
    description, merchant_reference, created_at, updated_at, sequence, synced_at)
SELECT md5('p' || i)::uuid, md5('a' || (1 + i %% 200000))::uuid, 100 + (i::bigint * 7919) %% 500000, 0,
    (ARRAY['EUR','USD','GBP','JPY','KWD'])[1 + i %% 5],
    (ARRAY['settled','settled','settled','authorized','pending','failed','refunded','partially_refunded'])[1 + i %% 8],
    'Order ' || i, 'ORD-' || lpad(i::text, 8, '0'),
    %(start)s::timestamptz + (i * 20 || ' milliseconds')::interval, now(), 3, now()
FROM generate_series(1, %(payments)s) AS i;
ANALYZE payments_payment;
"""


def rss_kib(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in KiB; ru_maxrss where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak() -> bool:
    """Reset the RSS high-water mark (Linux ≥ 4.0), so the next peak is the build's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def build(rows: int, *, xlsx: bool, trace: bool, manager) -> None:
    from apps.reports import services
    from apps.reports.models import ReportKind
    from apps.reports.parameters import ReportParameters

    parameters = ReportParameters.build(
        kind=ReportKind.PAYMENTS,
        start=START,
        end=START + timedelta(milliseconds=20 * rows + 1),
    )
    run = services.request_report(
        kind=ReportKind.PAYMENTS, parameters=parameters, with_xlsx=xlsx, requester=manager
    )
    before = rss_kib("VmRSS")
    exact = reset_peak()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    run = services.generate_report(run_id=run.pk)
    elapsed = time.perf_counter() - started
    python_peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    peak = rss_kib("VmHWM")
    assert run.status == "done", run.failure_reason
    assert run.row_count == rows, (run.row_count, rows)
    files = f"CSV {run.csv_size / 2**20:,.1f} MiB" + (
        f" + XLSX {run.xlsx_size / 2**20:,.1f} MiB" if xlsx else ""
    )
    print(
        f"{rows:>9,} rows{' (csv+xlsx)' if xlsx else ' (csv)'}: {elapsed:6.1f} s = "
        f"{rows / elapsed:,.0f} rows/s; {files}; RSS before {before / 1024:,.0f} MiB, "
        f"peak during the build {peak / 1024:,.0f} MiB"
        f"{'' if exact else ' (process peak: /proc/self/clear_refs unavailable)'}"
        + (f"; Python peak allocations {python_peak / 2**20:,.1f} MiB" if trace else ""),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="rows of the first report")
    parser.add_argument("--xlsx", action="store_true", help="an XLSX file besides the CSV")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-bench-reports-") as media:
        run(args, media)


def run(args: argparse.Namespace, media: str) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "LOG_LEVEL": "ERROR",
        "MEDIA_ROOT": media,
    }
    env["DATABASE_URL"] = recreate_database("portal_bench_reports")
    manage("migrate", "-v0", env=env)
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from apps.identity.models import User

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL, {"payments": args.payments, "start": START})
    print(f"loaded {args.payments:,} payments in {time.perf_counter() - started:.0f}s", flush=True)
    manager = User.objects.create(username="bench", email="bench@example.com", roles=["manager"])
    for rows in sorted({min(args.small, args.payments), args.payments}):
        build(rows, xlsx=args.xlsx, trace=args.tracemalloc, manager=manager)


if __name__ == "__main__":
    main()
