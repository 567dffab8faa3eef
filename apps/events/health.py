"""The worker's intake health check, for orchestrators: ``python -m apps.events.health PATH``.

The worker (``apps.events.worker``) rewrites ``EVENTS_HEALTH_FILE`` every few
seconds: ``ok`` while every intake consumes (or holds a batch within
``EVENTS_MAX_HOLD_SECONDS``), ``unhealthy: …`` while one is paused for the
database. The check exits 0 only for a fresh ``ok``; a stale file means a hung
or dead worker. It reads a file only — no Django, no database — so it answers
while the database is down.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

WRITE_EVERY_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0


def check(path: Path, *, now: float | None = None) -> tuple[bool, str]:
    try:
        status = path.read_text().strip()
        age = (now or time.time()) - path.stat().st_mtime
    except OSError as error:
        return False, f"no health file: {error}"
    if age > STALE_AFTER_SECONDS:
        return False, f"health file is {age:.0f}s old (worker hung or gone)"
    return status.startswith("ok"), status


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m apps.events.health PATH\n")
        return 2
    healthy, status = check(Path(argv[1]))
    sys.stdout.write(status + "\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
