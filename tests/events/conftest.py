"""A private exchange and queue on the real RabbitMQ per test, and the real intake consuming it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kombu import Connection

from apps.events.intake import EventIntake, IntakeConfig, declare_topology
from devtools.standin.publisher import EventPublisher

ROOT = Path(__file__).resolve().parents[2]


def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 15.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


class Bus:
    """The names of this test's exchange and queue, a publisher, and broker inspection."""

    def __init__(self, broker_url: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.broker_url = broker_url
        self.exchange = f"test.events.{suffix}"
        self.queue = f"test.portal.events.{suffix}"
        self.publisher = EventPublisher(broker_url, self.exchange)

    def config(self, **overrides) -> IntakeConfig:
        values = {
            "broker_url": self.broker_url,
            "exchange": self.exchange,
            "queue": self.queue,
            "batch_size": 200,
            "flush_seconds": 0.05,
        }
        values.update(overrides)
        return IntakeConfig(**values)

    def declare_topology(self) -> None:
        """Declare the exchange, the queue and its bindings as a worker would, before publishing.

        A worker declares the queue first and binds it after; a message published in
        between matches no binding and RabbitMQ drops it, so a test that waited only for
        the queue to exist could lose its first messages (seen: 7 to 50 of 6,000 events).
        """
        with Connection(self.broker_url) as conn:
            declare_topology(conn, conn.default_channel, self.config())

    def queue_exists(self) -> bool:
        """Whether the portal's queue is declared yet (a worker declares it as it starts)."""
        try:
            self.ready_messages()
        except Exception:
            return False
        return True

    def ready_messages(self, queue: str | None = None) -> int:
        with Connection(self.broker_url) as conn:
            _, count, _ = conn.default_channel.queue_declare(queue or self.queue, passive=True)
            return count

    def delete(self) -> None:
        self.publisher.close()
        with Connection(self.broker_url) as conn:
            channel = conn.default_channel
            for queue in (self.queue, f"{self.queue}.parked"):
                # The queue may never have been declared; a failed delete closes the channel.
                with contextlib.suppress(Exception):
                    channel.queue_delete(queue)
                channel = conn.channel()
            for exchange in (self.exchange, f"{self.queue}.dlx"):
                channel.exchange_delete(exchange)


class RunningIntake:
    def __init__(self, config: IntakeConfig) -> None:
        self.intake = EventIntake(config, name=f"test-{uuid.uuid4().hex[:6]}")
        self.thread = threading.Thread(target=self.intake.run, daemon=True)

    def start(self) -> RunningIntake:
        self.thread.start()
        assert self.intake.ready.wait(15), "the intake did not start"
        return self

    def stop(self) -> None:
        self.intake.stop()
        self.thread.join(20)
        assert not self.thread.is_alive()


@pytest.fixture
def intake(bus, transactional_db) -> Iterator[RunningIntake]:
    running = RunningIntake(bus.config()).start()
    yield running
    running.stop()


def this_runs_database_url() -> str:
    """A DATABASE_URL for subprocesses that points at this test run's database."""
    from urllib.parse import quote

    from django.db import connection

    params = connection.settings_dict
    user = quote(params["USER"] or "postgres")
    password = f":{quote(params['PASSWORD'])}" if params["PASSWORD"] else ""
    # The embedded server is reached through a socket directory given as an option.
    host = params["HOST"] or params.get("OPTIONS", {}).get("host", "")
    name = params["NAME"]
    if host.startswith("/"):
        return f"postgresql://{user}{password}@/{name}?host={host}"
    port = f":{params['PORT']}" if params["PORT"] else ""
    return f"postgresql://{user}{password}@{host}{port}/{name}"


def start_worker(
    bus: Bus, *, log_path, extra_env: dict[str, str] | None = None, beat: bool = False
) -> subprocess.Popen:
    """A real ``celery -A portal worker`` (tasks and event intake) on this test's bus and database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": this_runs_database_url(),
        "CELERY_BROKER_URL": bus.broker_url,
        "EVENTS_EXCHANGE": bus.exchange,
        "EVENTS_QUEUE": bus.queue,
        "EVENTS_FLUSH_SECONDS": "0.05",
        "LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    log = open(log_path, "ab")  # noqa: SIM115 — handed to the child process
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool",
            "solo",
            # A name of its own: another worker on this broker (a demo, a second suite) must not
            # hold this one's remote-control queue.
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
            *(["--beat", "--schedule", str(Path(log_path).with_suffix(".beat"))] if beat else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
