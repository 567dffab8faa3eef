"""Several consumers on one queue, on hot aggregates: the same read models as one, no deadlock."""

from __future__ import annotations

import os
import signal
import threading
import uuid

import pytest
from django.db import connection

from apps.events.models import DeadLetter, ReceivedEvent
from devtools.standin.publisher import EventPublisher
from devtools.standin.traffic import Traffic, generate_traffic
from tests.conftest import ARTIFACTS
from tests.events.conftest import RunningIntake, start_worker, wait_until
from tests.events.ground_truth import assert_applied_exactly_once

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def diagnosis(bus, traffic: Traffic) -> str:
    """What became of the events that are missing: parked, dead-lettered, or nowhere."""
    import json

    from apps.events.models import IntakeCounter

    seen = {str(e) for e in ReceivedEvent.objects.values_list("event_id", flat=True)}
    missing = []
    for message in traffic.messages:
        event_id = json.loads(message.body).get("id") if message.event is not None else None
        if event_id and event_id not in seen:
            missing.append(event_id)
    counters = list(IntakeCounter.objects.values())
    return (
        f"parked: {bus.ready_messages(bus.queue + '.parked')}, "
        f"dead letters: {DeadLetter.objects.count()}, counters: {counters}, "
        f"missing: {sorted(set(missing))[:20]}"
    )


def wait_for_every_event(bus, traffic: Traffic, *, timeout: float, note: str = "") -> None:
    try:
        wait_until(lambda: ReceivedEvent.objects.count() == traffic.valid_events, timeout=timeout)
    except AssertionError:
        raise AssertionError(
            f"{ReceivedEvent.objects.count()} of {traffic.valid_events} events applied "
            f"after {timeout:.0f}s, {bus.ready_messages()} messages ready; {note} "
            + diagnosis(bus, traffic)
        ) from None


def publish(bus, traffic: Traffic) -> None:
    with EventPublisher(bus.broker_url, bus.exchange, window=1000) as publisher:
        for message in traffic.messages:
            publisher.publish_raw(
                message.body, routing_key=message.routing_key, content_type=message.content_type
            )


def test_four_consumers_on_200_hot_aggregates_apply_20000_events_as_one_would(bus):
    # 100 events per aggregate: every batch of every consumer touches aggregates the others hold.
    traffic = generate_traffic(
        aggregates=200, events=20_000, duplicate_rate=0.05, reorder_rate=0.05, seed=16
    )
    deadlocks_before = deadlocks()
    consumers = [RunningIntake(bus.config(batch_size=200)) for _ in range(4)]
    try:
        for consumer in consumers:
            consumer.start()
        publish(bus, traffic)
        wait_for_every_event(bus, traffic, timeout=240)
        wait_until(lambda: bus.ready_messages() == 0, timeout=30)
    finally:
        for consumer in consumers:
            consumer.stop()
    assert_applied_exactly_once(traffic)
    assert deadlocks() == deadlocks_before, "a consumer deadlocked"
    assert not DeadLetter.objects.exists(), "a batch failed and was dead-lettered"


def test_sigkill_of_workers_beside_a_running_one_loses_nothing_and_applies_nothing_twice(
    bus, tmp_path
):
    """Workers started and SIGKILLed one after another, mid-batch, beside one that keeps running.

    A kill can leave a batch committed but not acknowledged (redelivered: duplicates),
    a transaction half done (rolled back), or messages only prefetched (requeued); the
    survivor and the next victims must end with every event applied exactly once.
    """
    traffic = generate_traffic(
        aggregates=100, events=12_000, duplicate_rate=0.05, reorder_rate=0.05, seed=61
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"two-workers-{uuid.uuid4().hex[:6]}.log"
    # Small batches and two intake threads a worker keep every worker holding unacknowledged batches.
    env = {"EVENTS_BATCH_SIZE": "100", "EVENTS_CONSUMERS": "2"}
    bus.declare_topology()  # queue and bindings before anything is published
    survivor = start_worker(bus, log_path=log_path, extra_env=env)
    victims: list = []
    kills: list[int] = []
    deadlocks_before = deadlocks()
    try:
        publisher = threading.Thread(target=publish, args=(bus, traffic))
        publisher.start()
        wait_until(lambda: ReceivedEvent.objects.count() >= 500, timeout=90)
        while len(kills) < 4 and ReceivedEvent.objects.count() < traffic.valid_events * 0.8:
            victim = start_worker(bus, log_path=log_path, extra_env=env)
            victims.append(victim)
            applied = ReceivedEvent.objects.count()
            # Killed once it has taken part (its heartbeat row) and the stream has moved on.
            wait_until(lambda a=applied: ReceivedEvent.objects.count() >= a + 800, timeout=90)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(10)
            kills.append(ReceivedEvent.objects.count())
        publisher.join(120)
        wait_for_every_event(
            bus, traffic, timeout=180, note=f"survivor running: {survivor.poll() is None}"
        )
        wait_until(lambda: bus.ready_messages() == 0, timeout=30)
    finally:
        for worker in (survivor, *victims):
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
    assert len(kills) >= 2, f"kills: {kills}"
    assert kills[-1] < traffic.valid_events, f"the last kill was not mid-stream: {kills}"
    assert_applied_exactly_once(traffic)
    assert deadlocks() == deadlocks_before
