"""Action log benchmark: appends per second (1 and 8 writers), verification, signed digests.

Then with signed digests on (a throw-away key, a temporary store): signing a
digest of the whole log, full and incremental verification against it, and
the offline verifier over a JSON Lines export.

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
    digests(append)


def digests(append) -> None:
    import contextlib
    import io
    import tempfile
    from pathlib import Path

    from django.core.management import call_command
    from django.test import override_settings

    from apps.audit import offline_verify
    from apps.audit.services import verify_chain, write_digest
    from apps.audit.signing import generate_signing_key_pem

    with tempfile.TemporaryDirectory() as tmp:
        store = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(Path(tmp) / "store")},
        }
        from django.conf import settings

        with override_settings(
            AUDIT_SIGNING_KEY=generate_signing_key_pem().decode(),
            AUDIT_DIGEST_MINUTES=60,
            STORAGES={**settings.STORAGES, "audit_digests": store},
        ):
            started = time.perf_counter()
            digest = write_digest()
            elapsed = time.perf_counter() - started
            size = len(digest.document.encode())
            print(
                f"signing a digest of {digest.entry_count:,} entries: {elapsed:.2f}s, "
                f"file {size / 1_048_576:.1f} MiB"
            )
            started = time.perf_counter()
            report = verify_chain(full=True)
            elapsed = time.perf_counter() - started
            print(
                f"full verification against the digest: {report.checked:,} entries in {elapsed:.2f}s "
                f"= {report.checked / elapsed:,.0f} entries/s (intact: {report.intact})"
            )
            append(1_000)
            write_digest()
            started = time.perf_counter()
            report = verify_chain()
            elapsed = time.perf_counter() - started
            print(
                f"incremental verification anchored on the latest digest (1,000 new entries): "
                f"{report.checked:,} checked in {elapsed * 1000:.0f} ms"
            )
            export, directory = Path(tmp) / "log.jsonl", Path(tmp) / "digests"
            out = io.StringIO()
            started = time.perf_counter()
            call_command("audit", "export", "--jsonl", str(export), stdout=out)
            exported = time.perf_counter() - started
            call_command("audit", "digests-export", str(directory), stdout=out)
            started = time.perf_counter()
            with contextlib.redirect_stdout(out):
                code = offline_verify.main(
                    [str(export), str(directory), "--public-key", str(directory / "public-key.pem")]
                )
            elapsed = time.perf_counter() - started
            entries = sum(1 for _ in export.open()) - 1
            print(
                f"JSON Lines export of {entries:,} entries: {exported:.2f}s; offline verifier: "
                f"{elapsed:.2f}s = {entries / elapsed:,.0f} entries/s (exit {code})"
            )


if __name__ == "__main__":
    main()
