"""Shared plumbing: a dedicated benchmark database on whichever PostgreSQL is in use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def server_url() -> str:
    """DATABASE_URL, or the embedded PostgreSQL (started for this process) when it is unset."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    sys.path.insert(0, str(ROOT))
    from portal.embedded_postgres import embedded_database_url

    return embedded_database_url()


def database_url(name: str) -> str:
    parts = urlsplit(server_url())
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(name: str) -> str:
    """Drop and create ``name``; return its URL."""
    admin = urlunsplit(urlsplit(server_url())._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not done within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started
