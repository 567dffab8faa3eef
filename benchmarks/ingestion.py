"""Event ingestion benchmark: the portal's batched intake vs. one Celery task per event.

    .venv/bin/python -m benchmarks.ingestion [--events 100000 --aggregates 20000 --sample 5000]

Publishes the events (5 % duplicates, 5 % reordered, 0.5 % malformed) into a
pre-filled RabbitMQ queue, starts the real ``celery -A portal worker`` and
measures until every event is applied; samples the worker's memory. Then it
runs a sample of the same events through the reference article's design (one
task per event, ``update_or_create``) and prints the ratio. Uses a dedicated
database ``portal_bench_ingest`` on the server in use (``DATABASE_URL``, else
the embedded PostgreSQL) and the broker at ``CELERY_BROKER_URL`` (default
local RabbitMQ).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from benchmarks.common import ROOT, manage, recreate_database, wait_until

BROKER = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--aggregates", type=int, default=20_000)
    parser.add_argument(
        "--sample", type=int, default=5_000, help="events run through the per-event design"
    )
    args = parser.parse_args()

    db_url = recreate_database("portal_bench_ingest")
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": BROKER,
        "EVENTS_EXCHANGE": f"bench.events.{suffix}",
        "EVENTS_QUEUE": f"bench.portal.events.{suffix}",
        "PORTAL_TEST_TASK_QUEUE": f"bench.tasks.{suffix}",
        "LOG_LEVEL": "ERROR",
    }
    print("preparing the benchmark database …", flush=True)
    manage("migrate", "-v0", env=env)
    os.environ.update(env)

    import django

    django.setup()
    from django.conf import settings
    from kombu import Connection

    from apps.events.intake import IntakeConfig, declare_topology
    from apps.events.models import DeadLetter, ReceivedEvent
    from devtools.standin.publisher import EventPublisher
    from devtools.standin.traffic import generate_traffic

    traffic = generate_traffic(
        aggregates=args.aggregates,
        events=args.events,
        duplicate_rate=0.05,
        reorder_rate=0.05,
        malformed_rate=0.005,
        seed=42,
    )
    total = len(traffic.messages)
    config = IntakeConfig.from_settings()
    with Connection(BROKER) as conn:
        declare_topology(conn, conn.default_channel, config)

    print(
        f"publishing {total:,} messages ({traffic.valid_events:,} distinct events, {traffic.duplicates:,} duplicates, "
        f"{traffic.reordered:,} reordered, {traffic.malformed:,} malformed) …",
        flush=True,
    )
    started = time.monotonic()
    with EventPublisher(BROKER, config.exchange, confirm=False) as publisher:
        for message in traffic.messages:
            publisher.publish_raw(
                message.body, routing_key=message.routing_key, content_type=message.content_type
            )

    def depth(queue: str) -> int:
        with Connection(BROKER) as conn:
            return conn.default_channel.queue_declare(queue, passive=True)[1]

    wait_until(lambda: depth(config.queue) >= total, timeout=120, interval=0.2)
    print(
        f"  published in {time.monotonic() - started:.1f}s; queue pre-filled with {depth(config.queue):,}",
        flush=True,
    )

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    process = psutil.Process(worker.pid)
    samples: list[tuple[int, int]] = []
    try:
        wait_until(lambda: ReceivedEvent.objects.exists(), timeout=60, interval=0.01)
        began = time.monotonic()
        while True:
            done = ReceivedEvent.objects.count()
            samples.append((done, tree_rss(process)))
            if done >= traffic.valid_events and DeadLetter.objects.count() >= traffic.malformed:
                break
            if time.monotonic() - began > 600:
                raise TimeoutError("intake did not finish within 10 minutes")
            time.sleep(0.1)
        elapsed = time.monotonic() - began
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    batched_rate = total / elapsed
    peak = max(rss for _, rss in samples)
    quarter = [rss for done, rss in samples if done >= traffic.valid_events // 4]
    print(
        f"\nbatched intake: {total:,} messages in {elapsed:.2f}s = {batched_rate:,.0f} events/s end to end"
    )
    print(
        f"  worker RSS: at 25% {quarter[0] / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB "
        f"(growth after the first quarter: {(peak - quarter[0]) / 2**20:+.1f} MiB)"
    )

    # --- the reference design, on a sample -------------------------------------------
    from apps.accounts.models import Account
    from apps.payments.models import Payment, Refund

    for model in (Account, Payment, Refund):
        model.objects.all().delete()
    sample = [m.event for m in traffic.messages if m.event is not None][: args.sample]
    per_event_queue = f"bench.per-event.{suffix}"
    os.environ["BENCH_PER_EVENT_QUEUE"] = env["BENCH_PER_EVENT_QUEUE"] = per_event_queue
    from benchmarks.per_event_app import apply_event, done

    marker = Path(tempfile.mkstemp(prefix="per-event-")[1])
    marker.unlink()
    for event in sample:
        apply_event.delay(event)
    done.delay(str(marker))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "benchmarks.per_event_app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
            "--queues",
            per_event_queue,
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: Account.objects.exists() or Payment.objects.exists(), timeout=60, interval=0.01
        )
        began = time.monotonic()
        wait_until(marker.exists, timeout=900, interval=0.1)
        elapsed = time.monotonic() - began
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        with Connection(BROKER) as conn:
            channel = conn.default_channel
            for queue in (
                config.queue,
                f"{config.queue}.parked",
                per_event_queue,
                env["PORTAL_TEST_TASK_QUEUE"],
            ):
                channel.queue_delete(queue)
            channel.exchange_delete(config.exchange)
    per_event_rate = len(sample) / elapsed
    print(
        f"\nper-event design (one task per event, update_or_create, prefork x2): "
        f"{len(sample):,} events in {elapsed:.2f}s = {per_event_rate:,.0f} events/s"
    )
    print(f"\nratio: batched intake is {batched_rate / per_event_rate:.0f}x the per-event design")
    print(
        f"(database: {settings.DATABASES['default']['HOST'] or 'local socket'}, broker: RabbitMQ)"
    )


if __name__ == "__main__":
    main()
