"""Without DATABASE_URL, development starts an embedded PostgreSQL, keeps its data and leaves no stray server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS survives (n int)")
    cursor.execute("INSERT INTO survives VALUES (1)")
    cursor.execute("SELECT count(*), version() FROM survives")
    count, version = cursor.fetchone()
print(count, version.split()[1])
"""


def run_development(pgdata: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.development", PORTAL_EMBEDDED_PGDATA=str(pgdata)
    )
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_embedded_server_starts_keeps_data_and_stops(tmp_path):
    pgdata = tmp_path / "pgdata"

    first = run_development(pgdata)
    assert first.returncode == 0, first.stderr
    count, version = first.stdout.split()
    assert count == "1"
    assert int(version.split(".")[0]) >= 16
    assert not postmaster_running(pgdata), "the embedded server outlived its last user"

    second = run_development(pgdata)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split()[0] == "2", "data of the first run was not kept"
    assert not postmaster_running(pgdata)


def test_a_server_whose_users_were_all_killed_is_stopped_by_the_supervisor(tmp_path):
    """A SIGKILLed process runs no exit hook; ``stop_when_unused`` cleans up after it."""
    import signal
    import time

    from portal.embedded_postgres import stop_when_unused

    pgdata = tmp_path / "pgdata"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.development", PORTAL_EMBEDDED_PGDATA=str(pgdata)
    )
    user = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SCRIPT + "\nimport time\nprint('ready', flush=True)\ntime.sleep(600)",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while "ready" not in (user.stdout.readline() or "") and time.monotonic() < deadline:
            pass
        assert postmaster_running(pgdata)
        assert stop_when_unused(pgdata, grace_seconds=0.5) is False  # still in use
        user.send_signal(signal.SIGKILL)
        user.wait(10)
        assert postmaster_running(pgdata), "a killed process cannot stop the server itself"
        assert stop_when_unused(pgdata) is True
        assert not postmaster_running(pgdata)
    finally:
        if user.poll() is None:
            user.kill()
