"""Action log benchmark: appends per second (1 and 8 writers) and verification speed.

    .venv/bin/python -m benchmarks.audit [--entries 200000]

Uses a dedicated database ``portal_bench_audit`` on the server in use.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from benchmarks.common import manage, recreate_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--entries", type=int, default=200_000, help="entries for the verification run"
    )
    parser.add_argument(
        "--appends", type=int, default=4_000, help="entries appended per measurement"
    )
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test", "LOG_LEVEL": "ERROR"}
    env["DATABASE_URL"] = recreate_database("portal_bench_audit")
    manage("migrate", "-v0", env=env)
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from apps.audit.services import Actor, record, verify_chain

    actor = Actor.system("benchmark")

    def append(count: int) -> None:
        try:
            for i in range(count):
                record(
                    action="benchmark.append",
                    actor=actor,
                    target_type="thing",
                    target_id=str(i),
                    params={"i": i, "note": "a typical small payload"},
                )
        finally:
            connection.close()

    for writers in (1, 8):
        threads = [
            threading.Thread(target=append, args=(args.appends // writers,)) for _ in range(writers)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        print(
            f"appends, {writers} writer(s): {args.appends / elapsed:,.0f} entries/s ({elapsed:.2f}s for {args.appends:,})"
        )

    remaining = args.entries - 2 * args.appends
    print(f"filling the log to {args.entries:,} entries …", flush=True)
    append(max(remaining, 0))
    started = time.perf_counter()
    report = verify_chain(full=True)
    elapsed = time.perf_counter() - started
    print(
        f"full verification: {report.checked:,} entries in {elapsed:.2f}s = {report.checked / elapsed:,.0f} entries/s "
        f"(intact: {report.intact})"
    )
    append(1_000)
    started = time.perf_counter()
    report = verify_chain()
    elapsed = time.perf_counter() - started
    print(
        f"incremental verification after 1,000 new entries: {report.checked:,} checked in {elapsed * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
