"""Event intake benchmark: the database's own limit, the intake with 1, 2 and 4 consumers, the per-event design.

    .venv/bin/python -m benchmarks.ingestion [--events 100000 --aggregates 20000 --sample 5000]

One run on one machine, the same generated events throughout (5 % duplicates,
5 % reordered, 0.5 % malformed):

1. **database only**: the valid events, parsed beforehand, written by ``COPY``
   into temporary staging tables and one set-based merge per table (the read
   models with their indexes, and the ledger), in chunks — no broker, no
   worker. That is what PostgreSQL itself takes.
2. **the intake** with 1, 2 and 4 consumers (each a real ``celery -A portal
   worker --pool solo`` process with its default intake threads) from a
   pre-filled RabbitMQ queue, timed from the first commit to the last; worker
   CPU per event (user + system of every worker process), peak memory,
   PostgreSQL deadlocks, and the result checked (ledger rows, dead letters).
3. **the intake with consumers that are the bottleneck**: the same 1, 2 and 4
   workers, each held to ``--consumer-cpu`` of a core by a cgroup CPU quota, as
   if each ran on its own small machine. On one machine the unbounded runs
   share its cores with PostgreSQL and RabbitMQ, so once one worker fills them
   a second cannot add anything; bounding each worker shows whether the
   design lets consumers add up (no lock waits, no deadlocks) when the
   consumers, not the machine, are what runs out. Needs root and a writable
   cgroup ``cpu`` controller (v1 or v2); skipped with a message otherwise.
4. **the per-event design** (one Celery task per event, ``update_or_create``)
   on a sample.

For every intake run the CPU it cost is split by process: the workers,
PostgreSQL (every ``postgres`` process on this machine) and RabbitMQ
(``beam.smp``), in microseconds per message, with how many of the machine's
cores were busy in all.

Then the ratios: intake ÷ database limit and intake ÷ per-event. Uses the
database ``--database`` (default ``portal_bench_ingest``, recreated) on the
server in use (``DATABASE_URL``, else the embedded PostgreSQL) and the broker at
``CELERY_BROKER_URL`` (default local RabbitMQ).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.common import ROOT, manage, recreate_database, wait_until

BROKER = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
TABLES = (
    "accounts_account",
    "payments_payment",
    "payments_refund",
    "events_received_event",
    "events_intake_counter",
    "events_dead_letter",
    "events_intake_heartbeat",
)


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def cpu_by_pid() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds so far (user + system)."""
    seen: dict[int, tuple[str, float]] = {}
    for proc in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            seen[proc.pid] = (proc.info["name"] or "", times.user + times.system)
    return seen


def cpu_split(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], workers: set[int]
) -> dict[str, float]:
    """CPU seconds between two snapshots, by role; a process born in between counts from zero."""
    split = {"worker": 0.0, "postgres": 0.0, "rabbitmq": 0.0}
    for pid, (name, seconds) in after.items():
        spent = seconds - before.get(pid, (name, 0.0))[1]
        if pid in workers:
            split["worker"] += spent
        elif name.startswith("postgres"):
            split["postgres"] += spent
        elif name.startswith("beam"):
            split["rabbitmq"] += spent
    return split


class CpuQuota:
    """A cgroup holding processes to a share of one core (cgroup v1 ``cpu`` or v2 ``cpu.max``)."""

    PERIOD_US = 10_000  # short periods: a throttled worker stalls ≤ 10 ms, not 100 ms, at a time

    def __init__(self, name: str, share: float) -> None:
        quota = max(1_000, int(self.PERIOD_US * share))
        v1 = Path("/sys/fs/cgroup/cpu")
        v2 = Path("/sys/fs/cgroup")
        if (v1 / "cpu.cfs_quota_us").exists():
            self.path = v1 / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
            self.procs = self.path / "cgroup.procs"
        elif "cpu" in (v2 / "cgroup.controllers").read_text().split():
            self.path = v2 / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
            self.procs = self.path / "cgroup.procs"
        else:
            raise OSError("no writable cgroup cpu controller")

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()


@dataclass
class IntakeRun:
    consumers: int
    seconds: float
    messages: int
    rss_quarter: int
    rss_peak: int
    deadlocks: int
    cpu_by_role: dict[str, float]
    busy_cores: float
    consumer_cpu: float | None = None

    def us_per_event(self, role: str) -> float:
        return self.cpu_by_role[role] / self.messages * 1e6

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def reset_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)}")


def deadlock_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def database_only(traffic, chunk: int) -> float:
    """Events per second PostgreSQL takes by COPY + one merge per table, rows prepared beforehand."""
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.events.schema import Event, MalformedEvent, parse_event
    from apps.events.services import LEDGER_COLUMNS, READ_MODELS

    events: list[Event] = []
    for message in traffic.messages:
        with contextlib.suppress(MalformedEvent):
            parsed = parse_event(message.body)
            if isinstance(parsed, Event):
                events.append(parsed)
    now = timezone.now()
    rows: dict[str, list[list]] = {"ledger": []}
    chunks: list[dict[str, list[list]]] = []
    for start in range(0, len(events), chunk):
        rows = {kind: [] for kind in READ_MODELS} | {"ledger": []}
        for event in events[start : start + chunk]:
            model = READ_MODELS[event.kind]
            rows[event.kind].append(
                [getattr(event.data, name) for name, _ in model.columns] + [event.sequence, now]
            )
            rows["ledger"].append(
                [
                    event.source,
                    event.id,
                    event.type,
                    event.subject,
                    event.sequence,
                    event.time,
                    "applied",
                    event.data_json.decode(),
                ]
            )
        chunks.append(rows)

    import psycopg

    def columns(kind: str) -> list[tuple[str, str]]:
        if kind == "ledger":
            return list(LEDGER_COLUMNS)
        return [*READ_MODELS[kind].columns, ("sequence", "bigint"), ("synced_at", "timestamptz")]

    connection.ensure_connection()
    raw = connection.connection
    reset_tables()
    with psycopg.Cursor(raw) as cursor:
        for kind in rows:
            spec = ", ".join(f"{name} {kind_type}" for name, kind_type in columns(kind))
            cursor.execute(
                f"CREATE TEMPORARY TABLE bench_stage_{kind} ({spec}) ON COMMIT DELETE ROWS"
            )
    merges = {}
    for kind, model in READ_MODELS.items():
        names = [name for name, _ in columns(kind)]
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n != model.pk)
        merges[kind] = (
            f"INSERT INTO {model.table} ({', '.join(names)}) "
            f"SELECT DISTINCT ON ({model.pk}) {', '.join(names)} FROM bench_stage_{kind} "
            f"ORDER BY {model.pk}, sequence DESC "
            f"ON CONFLICT ({model.pk}) DO UPDATE SET {updates} "
            f"WHERE {model.table}.sequence < EXCLUDED.sequence"
        )
    merges["ledger"] = (
        "INSERT INTO events_received_event "
        "(source, event_id, type, subject, sequence, occurred_at, outcome, data, received_at) "
        "SELECT source, event_id, type, subject, sequence, occurred_at, outcome, data::jsonb, now() "
        "FROM bench_stage_ledger ON CONFLICT (source, event_id) DO NOTHING"
    )
    started = time.perf_counter()
    for rows in chunks:
        with transaction.atomic(), psycopg.Cursor(raw) as cursor:
            for kind, kind_rows in rows.items():
                if not kind_rows:
                    continue
                with cursor.copy(
                    f"COPY bench_stage_{kind} ({', '.join(n for n, _ in columns(kind))}) "
                    "FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types([t for _, t in columns(kind)])
                    for row in kind_rows:
                        copy.write_row(row)
                cursor.execute(merges[kind])
    elapsed = time.perf_counter() - started
    with psycopg.Cursor(raw) as cursor:
        for kind in rows:
            cursor.execute(f"DROP TABLE bench_stage_{kind}")
    return len(events) / elapsed


def start_worker(
    env: dict[str, str], number: int, quota: CpuQuota | None = None
) -> subprocess.Popen:
    # A worker held to a CPU share joins its cgroup before it starts, so every thread it makes is in it.
    prefix = ["sh", "-c", f'echo $$ > "{quota.procs}" && exec "$0" "$@"'] if quota else []
    return subprocess.Popen(
        [
            *prefix,
            sys.executable,
            "-m",
            "celery",
            "--quiet",  # no banner
            "-A",
            "portal",
            "worker",
            "--pool",
            "solo",
            "--hostname",
            f"bench-{number}-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            # ERROR: the malformed events' dead-letter warnings are expected here, not news.
            "ERROR",
        ],
        cwd=ROOT,
        # Celery's "Warm shutdown" line goes to stdout and its root-user warning to stderr;
        # neither is a figure. Errors still reach stderr.
        env={**env, "PYTHONWARNINGS": "ignore:You're running the worker with superuser"},
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def run_intake(
    traffic, *, consumers: int, env: dict[str, str], config, consumer_cpu: float | None = None
) -> IntakeRun:
    from django.db.models import Sum
    from kombu import Connection

    from apps.events.intake import declare_topology
    from apps.events.models import DeadLetter, IntakeCounter, ReceivedEvent
    from devtools.standin.publisher import EventPublisher

    reset_tables()
    total = len(traffic.messages)
    with Connection(BROKER) as conn:
        declare_topology(conn, conn.default_channel, config)
        conn.default_channel.queue_purge(config.queue)
    with EventPublisher(BROKER, config.exchange, window=1000) as publisher:
        for message in traffic.messages:
            publisher.publish_raw(
                message.body, routing_key=message.routing_key, content_type=message.content_type
            )

    def depth() -> int:
        with Connection(BROKER) as conn:
            return conn.default_channel.queue_declare(config.queue, passive=True)[1]

    try:
        wait_until(lambda: depth() >= total, timeout=180, interval=0.2)
    except TimeoutError:
        raise TimeoutError(f"the queue holds {depth():,} of {total:,} messages") from None

    def received_so_far() -> int:
        return IntakeCounter.objects.aggregate(total=Sum("received"))["total"] or 0

    deadlocks_before = deadlock_count()
    quotas = [
        CpuQuota(f"portal-bench-{os.getpid()}-{number}", consumer_cpu)
        for number in range(consumers)
        if consumer_cpu
    ]
    workers = [
        start_worker(env, number, quotas[number] if quotas else None) for number in range(consumers)
    ]
    processes = [psutil.Process(worker.pid) for worker in workers]
    samples: list[tuple[int, int]] = []
    try:
        wait_until(lambda: ReceivedEvent.objects.exists(), timeout=120, interval=0.005)
        by_pid_start = cpu_by_pid()
        machine_start = psutil.cpu_times()
        began = time.monotonic()
        while True:
            # The counters are a handful of rows: polling them costs the database nothing,
            # where count(*) on the ledger 20 times a second would compete with the intake.
            done = received_so_far()
            samples.append((done, sum(tree_rss(p) for p in processes)))
            if done >= total:
                break
            if time.monotonic() - began > 900:
                raise TimeoutError("the intake did not finish within 15 minutes")
            time.sleep(0.05)
        elapsed = time.monotonic() - began
        machine_end = psutil.cpu_times()
        worker_pids = {proc.pid for p in processes for proc in [p, *p.children(recursive=True)]}
        split = cpu_split(by_pid_start, cpu_by_pid(), worker_pids)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
        for quota in quotas:
            quota.remove()
    busy = sum(machine_end) - sum(machine_start)
    busy -= (machine_end.idle - machine_start.idle) + (machine_end.iowait - machine_start.iowait)
    assert ReceivedEvent.objects.count() == traffic.valid_events, "events missing or extra"
    assert DeadLetter.objects.count() == traffic.malformed, "dead letters missing or extra"
    quarter = [rss for done, rss in samples if done >= total // 4] or [0]
    return IntakeRun(
        consumers=consumers,
        seconds=elapsed,
        messages=total,
        rss_quarter=quarter[0],
        rss_peak=max(rss for _, rss in samples),
        deadlocks=deadlock_count() - deadlocks_before,
        cpu_by_role=split,
        busy_cores=busy / elapsed,
        consumer_cpu=consumer_cpu,
    )


def describe(run: IntakeRun) -> str:
    held = f", each held to {run.consumer_cpu:g} core" if run.consumer_cpu else ""
    return f"{run.consumers} consumer(s){held}"


def per_event_design(traffic, *, sample_size: int, env: dict[str, str], suffix: str) -> float:
    from apps.accounts.models import Account
    from apps.payments.models import Payment

    reset_tables()
    sample = [m.event for m in traffic.messages if m.event is not None][:sample_size]
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
            "--quiet",
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
        # Celery's "Warm shutdown" line goes to stdout and its root-user warning to stderr;
        # neither is a figure. Errors still reach stderr.
        env={**env, "PYTHONWARNINGS": "ignore:You're running the worker with superuser"},
        stdout=subprocess.DEVNULL,
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
    return len(sample) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--aggregates", type=int, default=20_000)
    parser.add_argument(
        "--sample", type=int, default=5_000, help="events run through the per-event design"
    )
    parser.add_argument("--consumers", default="1,2,4", help="worker processes per intake run")
    parser.add_argument(
        "--consumer-cpu",
        type=float,
        default=0.2,
        help="share of a core each worker is held to in the consumer-bound runs (0: skip them)",
    )
    parser.add_argument("--database", default="portal_bench_ingest")
    args = parser.parse_args()
    runs_of = [int(n) for n in args.consumers.split(",")]

    db_url = recreate_database(args.database)
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

    from apps.events.intake import IntakeConfig
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
    print(
        f"{total:,} messages: {traffic.valid_events:,} distinct events over {args.aggregates:,} "
        f"aggregates, {traffic.duplicates:,} duplicates, {traffic.reordered:,} reordered, "
        f"{traffic.malformed:,} malformed; intake batch {config.batch_size}, "
        f"{settings.EVENTS_CONSUMERS} intake threads per worker",
        flush=True,
    )

    limits = {chunk: database_only(traffic, chunk) for chunk in (config.batch_size, 5_000)}
    limit = max(limits.values())
    for chunk, rate in limits.items():
        print(
            f"database only, COPY + merge in chunks of {chunk:,}: {rate:,.0f} events/s", flush=True
        )

    runs: list[IntakeRun] = []
    bounded_note = ""
    plan: list[tuple[int, float | None]] = [(n, None) for n in runs_of]
    if args.consumer_cpu > 0:
        try:
            CpuQuota(f"portal-bench-{os.getpid()}-probe", args.consumer_cpu).remove()
            plan += [(n, args.consumer_cpu) for n in runs_of]
        except OSError as error:
            bounded_note = f"consumer-bound runs skipped: cannot set a CPU quota ({error})"
            print(bounded_note, flush=True)
    try:
        for consumers, consumer_cpu in plan:
            run = run_intake(
                traffic, consumers=consumers, env=env, config=config, consumer_cpu=consumer_cpu
            )
            runs.append(run)
            print(
                f"intake, {describe(run)}: {run.rate:,.0f} events/s "
                f"({total:,} in {run.seconds:.2f}s), CPU µs/event: worker {run.us_per_event('worker'):.0f}, "
                f"PostgreSQL {run.us_per_event('postgres'):.0f}, RabbitMQ {run.us_per_event('rabbitmq'):.0f}; "
                f"{run.busy_cores:.2f} of {os.cpu_count()} cores busy; "
                f"memory {run.rss_quarter / 2**20:.0f} MiB at 25 % → peak {run.rss_peak / 2**20:.0f} MiB, "
                f"{run.deadlocks} deadlocks",
                flush=True,
            )
        per_event = per_event_design(traffic, sample_size=args.sample, env=env, suffix=suffix)
        print(
            f"per-event design (one task per event, update_or_create, prefork x2), "
            f"{args.sample:,} events: {per_event:,.0f} events/s",
            flush=True,
        )
    finally:
        with Connection(BROKER) as conn:
            channel = conn.default_channel
            for queue in (
                config.queue,
                f"{config.queue}.parked",
                f"bench.per-event.{suffix}",
                env["PORTAL_TEST_TASK_QUEUE"],
            ):
                with contextlib.suppress(Exception):
                    channel.queue_delete(queue)
                channel = conn.channel()
            channel.exchange_delete(config.exchange)

    print(
        "\n| | events/s | CPU µs/event: worker / PostgreSQL / RabbitMQ | cores busy "
        "| deadlocks | ÷ database limit | ÷ one consumer alike | ÷ per-event |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| database only (COPY + merge, best chunk) | {limit:,.0f} | — | — | — | 1.00 | — | — |")
    for run in runs:
        alone = next(
            (r for r in runs if r.consumers == 1 and r.consumer_cpu == run.consumer_cpu), None
        )
        versus_one = f"{run.rate / alone.rate:.2f}" if alone else "—"
        print(
            f"| intake, {describe(run)} | {run.rate:,.0f} "
            f"| {run.us_per_event('worker'):.0f} / {run.us_per_event('postgres'):.0f} / "
            f"{run.us_per_event('rabbitmq'):.0f} | {run.busy_cores:.2f} | {run.deadlocks} "
            f"| {run.rate / limit:.2f} | {versus_one} | {run.rate / per_event:.0f}x |"
        )
    print(
        f"| per-event design (sample) | {per_event:,.0f} | — | — | — | {per_event / limit:.3f} | — | 1x |"
    )
    if bounded_note:
        print(bounded_note)
    print(
        f"\nmachine: {platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"PostgreSQL at {settings.DATABASES['default']['HOST'] or 'local socket'}, RabbitMQ at {BROKER.split('@')[-1]}"
    )


if __name__ == "__main__":
    main()
