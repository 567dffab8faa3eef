"""The worker's health file: ok once its intake consumes; the check refuses stale or unhealthy files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from apps.events.health import STALE_AFTER_SECONDS, check
from tests.conftest import ARTIFACTS
from tests.events.conftest import ROOT, start_worker, wait_until


def test_the_check_wants_a_fresh_ok(tmp_path):
    path = tmp_path / "intake.health"
    assert check(path)[0] is False  # no file: not healthy
    path.write_text("ok\n")
    assert check(path) == (True, "ok")
    assert check(path, now=time.time() + STALE_AFTER_SECONDS + 1)[0] is False
    path.write_text("unhealthy: vm:1/0 paused: the database has been unavailable for 75s\n")
    assert check(path)[0] is False


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_running_worker_keeps_its_health_file_ok(bus, tmp_path):
    path = tmp_path / "intake.health"
    ARTIFACTS.mkdir(exist_ok=True)
    worker = start_worker(
        bus,
        log_path=ARTIFACTS / f"health-file-{uuid.uuid4().hex[:6]}.log",
        extra_env={"EVENTS_HEALTH_FILE": str(path)},
    )
    try:
        wait_until(lambda: check(path) == (True, "ok"), timeout=60)
        command = [sys.executable, "-m", "apps.events.health", str(path)]
        assert subprocess.run(command, cwd=ROOT, capture_output=True).returncode == 0
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    path.write_text("unhealthy: paused\n")
    assert subprocess.run(command, cwd=ROOT, capture_output=True).returncode == 1
