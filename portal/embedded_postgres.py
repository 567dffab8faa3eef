"""An embedded PostgreSQL for development, the demo and tests.

When ``DATABASE_URL`` is unset, development and test settings call
:func:`embedded_database_url`, which starts (or joins) a real PostgreSQL 16
server shipped in the ``pgserver`` wheel. Its data lives in a git-ignored
folder (``.local/pgdata`` unless ``PORTAL_EMBEDDED_PGDATA`` says otherwise)
and survives between runs. Every process that uses the server registers its
pid; the last one to exit stops the server, so no stray postmaster is left
behind. Production never imports this module.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

DATABASE_NAME = "portal"
PIDS_FILE = ".handle_pids.json"
_handles: dict[Path, object] = {}


def default_data_dir() -> Path:
    base_dir = Path(__file__).resolve().parent.parent
    configured = os.environ.get("PORTAL_EMBEDDED_PGDATA", "").strip()
    return Path(configured) if configured else base_dir / ".local" / "pgdata"


def _forget_dead_processes(data_dir: Path) -> None:
    """Drop pids of processes that died without saying goodbye (SIGKILL, OOM).

    pgserver stops the server when the last registered process exits; a pid
    left behind by a killed process would keep the server running forever.
    """
    pids = _registered_pids(data_dir)
    alive = [pid for pid in pids if _process_exists(pid)]
    if alive != pids:
        (data_dir / PIDS_FILE).write_text(json.dumps(alive))


def _registered_pids(data_dir: Path) -> list[int]:
    """The processes pgserver has registered as using the server (its own file)."""
    try:
        return json.loads((data_dir / PIDS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return []


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def embedded_database_url(database: str = DATABASE_NAME) -> str:
    """Start or join the embedded server and return a URL for ``database``.

    The database is created on first use.
    """
    import psycopg

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        import pgserver
    from psycopg import sql

    data_dir = default_data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if data_dir.exists():
        _forget_dead_processes(data_dir)
    server = _handles.get(data_dir)
    if server is None:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        _handles[data_dir] = server
        # Registered after pgserver's own hook, so it runs first (atexit is LIFO).
        atexit.register(_forget_dead_processes, data_dir)
    admin_url = server.get_uri("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            # Another process of the same run may create it first.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            logger.info("created database %s on the embedded PostgreSQL", database)
    return server.get_uri(database)


def stop_when_unused(data_dir: Path | None = None, *, grace_seconds: float = 15.0) -> bool:
    """Stop the embedded server if no living process uses it any more.

    pgserver stops it from the last process's exit hook, but a process killed
    by a signal runs no hook: when a supervisor (``dev.py demo``) has seen all
    its processes end, it calls this so no postmaster is left behind.
    Returns True when a running server was stopped.
    """
    data_dir = data_dir or default_data_dir()
    if not (data_dir / "postmaster.pid").exists():
        return False
    # Children of killed processes (a worker's pool) may take a moment to go.
    deadline = time.monotonic() + grace_seconds
    while True:
        _forget_dead_processes(data_dir)
        if not _registered_pids(data_dir):
            break
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import pg_ctl
    user = "pgserver" if os.name == "posix" and os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=data_dir, user=user)
    return True
