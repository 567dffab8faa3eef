"""The demo's SQL broker gets the index that keeps finding the next message cheap."""

from __future__ import annotations

import pytest
from django.db import connection

from devtools.sql_broker import prepare
from tests.events.conftest import this_runs_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_prepare_creates_kombus_tables_and_the_pending_index_once():
    url = "sqla+" + this_runs_database_url().replace("postgresql://", "postgresql+psycopg://", 1)
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    with connection.cursor() as cursor:
        cursor.execute(sessions)
        (before,) = cursor.fetchone()
    assert prepare(url) is True
    assert prepare(url) is True  # a second demo run
    with connection.cursor() as cursor:
        cursor.execute(sessions)
        # kombu's engine is given back: a left-over session kept the test run from dropping
        # its database.
        assert cursor.fetchone() == (before,)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'kombu_message_pending'")
        (definition,) = cursor.fetchone()
        cursor.execute("DROP TABLE kombu_message, kombu_queue")
    assert "WHERE (visible <> false)" in definition


def test_other_brokers_are_left_alone():
    assert prepare("amqp://guest:guest@127.0.0.1:5672//") is False


def test_the_demo_step_prepares_the_embedded_broker_on_its_own(tmp_path):
    """``dev.py demo`` runs it as a process of its own, before anything else has started."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.development",
        PORTAL_EMBEDDED_PGDATA=str(tmp_path / "pgdata"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "devtools.sql_broker"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "SQL broker ready" in done.stdout
