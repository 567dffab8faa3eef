"""The worker is SIGKILLed while events flow; afterwards the read models equal the ground truth."""

from __future__ import annotations

import os
import signal
import threading
import uuid

import pytest

from apps.events.models import DeadLetter, IntakeCounter, ReceivedEvent
from devtools.standin.traffic import generate_traffic
from tests.conftest import ARTIFACTS
from tests.events.conftest import start_worker, wait_until
from tests.events.ground_truth import assert_applied_exactly_once

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def received_messages() -> int:
    return sum(IntakeCounter.objects.values_list("received", flat=True))


def _kill(worker) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def test_sigkill_mid_stream_loses_nothing_and_applies_nothing_twice(bus, tmp_path):
    traffic = generate_traffic(
        aggregates=400,
        events=3_000,
        duplicate_rate=0.05,
        reorder_rate=0.05,
        malformed_rate=0.01,
        seed=7,
    )
    log_path = ARTIFACTS / f"crash-test-worker-{uuid.uuid4().hex[:6]}.log"
    ARTIFACTS.mkdir(exist_ok=True)
    # Queue and bindings exist before anything is published (as compose orders it).
    bus.declare_topology()
    worker = start_worker(bus, log_path=log_path)
    try:

        def publish_all() -> None:
            for message in traffic.messages:
                bus.publisher.publish_raw(
                    message.body, routing_key=message.routing_key, content_type=message.content_type
                )

        publisher = threading.Thread(target=publish_all)
        publisher.start()
        wait_until(lambda: ReceivedEvent.objects.count() >= 800, timeout=60)
        _kill(worker)
        applied_before_crash = ReceivedEvent.objects.count()
        publisher.join(60)

        worker = start_worker(bus, log_path=log_path)
        wait_until(lambda: ReceivedEvent.objects.count() == traffic.valid_events, timeout=90)
        wait_until(lambda: DeadLetter.objects.count() == traffic.malformed, timeout=30)
        # The last duplicates may still be on their way once every event is in: wait for them.
        wait_until(lambda: received_messages() >= len(traffic.messages), timeout=30)
    finally:
        if worker.poll() is None:
            _kill(worker)

    assert 0 < applied_before_crash < traffic.valid_events, "the kill did not happen mid-stream"
    assert_applied_exactly_once(traffic)
    assert bus.ready_messages() == 0
