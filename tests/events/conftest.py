"""A private exchange and queue on the real RabbitMQ per test, and the real intake consuming it."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from kombu import Connection

from apps.events.intake import EventIntake, IntakeConfig
from devtools.standin.publisher import EventPublisher


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


@pytest.fixture
def bus() -> Iterator[Bus]:
    bus = Bus(settings.CELERY_BROKER_URL)
    yield bus
    bus.delete()


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
