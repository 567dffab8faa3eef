"""``python -m devtools.standin serve|seed|traffic`` — see docs/standin.md."""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devtools.standin.events import rfc3339
from devtools.standin.publisher import EventFile, EventPublisher
from devtools.standin.server import start_standin
from devtools.standin.service import GoServices
from devtools.standin.traffic import generate_traffic

SAVE_EVERY_SECONDS = 30


def _serve(args: argparse.Namespace) -> None:
    running = start_standin(
        broker_url=args.broker,
        exchange=args.exchange,
        host=args.host,
        port=args.port,
        payments_token=args.payments_token,
        accounts_token=args.accounts_token,
        seed=args.seed,
        portal_queue=os.environ.get("EVENTS_QUEUE", "portal.events"),
    )
    services = running.services
    print(f"Go stand-in: {running.url} (events to exchange {args.exchange!r})", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    state = Path(args.state) if args.state else None
    if state is not None and state.exists():
        services.restore(json.loads(state.read_text()))
        print(
            f"  restored {len(services.accounts):,} accounts and {len(services.payments):,} "
            f"payments from {state}",
            flush=True,
        )
    try:
        # A seed cut short (Ctrl-C in the first minutes) is saved and completed next time.
        _seed(
            services,
            stop,
            accounts=max(args.seed_accounts - len(services.accounts), 0),
            payments=max(args.seed_payments - len(services.payments), 0),
        )
        saved_at = time.monotonic()
        while not stop.is_set():
            if args.rate > 0:
                _live_step(services)
                stop.wait(1 / args.rate)
            else:
                stop.wait(1)
            if state is not None and time.monotonic() - saved_at > SAVE_EVERY_SECONDS:
                _save(services, state)
                saved_at = time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        if state is not None:
            _save(services, state)


def _seed(services, stop: threading.Event, *, accounts: int, payments: int) -> None:
    """History to start from: accounts opened over the last 90 days, payments over the last 30,
    so lists, date filters and yesterday's report have something to show."""
    if not accounts and not payments:
        return
    started = time.monotonic()
    now = datetime.now(UTC)
    for _ in range(accounts):
        if stop.is_set():
            return
        services.create_account(created_at=_days_ago(now, 30, 90))
    for index in range(payments):
        if stop.is_set():
            return
        roll = random.random()
        status = (
            "settled"
            if roll < 0.8
            else "authorized"
            if roll < 0.9
            else "pending"
            if roll < 0.95
            else "failed"
        )
        services.create_payment(status=status, created_at=_days_ago(now, 0, 30))
        if index and index % 5000 == 0:
            print(f"  seeded {index:,} payments", flush=True)
    print(
        f"  seeded {accounts:,} accounts and {payments:,} payments "
        f"in {time.monotonic() - started:.1f}s",
        flush=True,
    )


def _seed_file(args: argparse.Namespace) -> None:
    """The seed without a broker: state to ``--state``, its events to ``--events-out``.

    ``serve --state`` then starts from that state and publishes only live
    traffic; the portal loads the events with ``manage.py events ingest-file``.
    Like ``serve``, it adds only what the state file lacks.
    """
    state = Path(args.state)
    out = Path(args.events_out)
    with EventFile(out) as events:
        services = GoServices(events, seed=args.seed)
        if state.exists():
            services.restore(json.loads(state.read_text()))
        _seed(
            services,
            threading.Event(),
            accounts=max(args.accounts - len(services.accounts), 0),
            payments=max(args.payments - len(services.payments), 0),
        )
    # The events first, then the state: a state file always has its events beside it.
    _save(services, state)
    print(f"  wrote {events.count:,} events to {out} and the state to {state}", flush=True)


def _days_ago(now: datetime, least: float, most: float) -> str:
    return rfc3339(now - timedelta(days=random.uniform(least, most)))


def _save(services, state: Path) -> None:
    """Write the services' state atomically (a crash mid-write keeps the previous file)."""
    state.parent.mkdir(parents=True, exist_ok=True)
    partial = state.with_suffix(".tmp")
    partial.write_text(json.dumps(services.snapshot()))
    partial.replace(state)


def _live_step(services) -> None:
    """Live traffic: new payments, payments moving on, now and then a new account."""
    roll = random.random()
    if roll < 0.05 or not services.accounts:
        services.create_account()
    elif roll < 0.55:
        services.create_payment(status="pending")
    else:
        with services.lock:
            moving = [
                p for p in services.payments.values() if p.status in ("pending", "authorized")
            ]
        if moving:
            services.advance_payment(random.choice(moving[-200:]))


def _traffic(args: argparse.Namespace) -> None:
    traffic = generate_traffic(
        aggregates=args.aggregates,
        events=args.events,
        duplicate_rate=args.duplicates,
        reorder_rate=args.reorder,
        malformed_rate=args.malformed,
        seed=args.seed or 0,
    )
    started = time.monotonic()
    with EventPublisher(args.broker, args.exchange, window=args.window) as publisher:
        for message in traffic.messages:
            publisher.publish_raw(
                message.body, routing_key=message.routing_key, content_type=message.content_type
            )
    elapsed = time.monotonic() - started
    print(
        f"published {len(traffic.messages):,} messages in {elapsed:.1f}s ({len(traffic.messages) / elapsed:,.0f}/s): "
        f"{traffic.valid_events:,} events, {traffic.duplicates:,} duplicates, {traffic.reordered:,} reordered, "
        f"{traffic.malformed:,} malformed"
    )


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("STANDIN_LOG_LEVEL", "WARNING"),
        format="%(asctime)s standin %(message)s",
    )
    broker = (
        os.environ.get("EVENTS_BROKER_URL")
        or os.environ.get("CELERY_BROKER_URL")
        or "amqp://guest:guest@127.0.0.1:5672//"
    )
    parser = argparse.ArgumentParser(prog="python -m devtools.standin")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Go APIs and publish their events")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8100)
    serve.add_argument("--broker", default=broker)
    serve.add_argument("--exchange", default=os.environ.get("EVENTS_EXCHANGE", "events"))
    serve.add_argument(
        "--payments-token", default=os.environ.get("PAYMENTS_API_TOKEN", "payments-token")
    )
    serve.add_argument(
        "--accounts-token", default=os.environ.get("ACCOUNTS_API_TOKEN", "accounts-token")
    )
    serve.add_argument("--seed-accounts", type=int, default=0)
    serve.add_argument("--seed-payments", type=int, default=0)
    serve.add_argument("--rate", type=float, default=0.0, help="live traffic, events per second")
    serve.add_argument("--seed", type=int, default=None)
    serve.add_argument(
        "--state",
        default=None,
        help="JSON file to keep the services' data in between runs (read at start, saved "
        "every 30 s and at exit); only what the seed still lacks is seeded",
    )
    serve.set_defaults(run=_serve)
    seed = sub.add_parser(
        "seed",
        help="generate the seed's state and write its events to a JSON Lines file (no broker)",
    )
    seed.add_argument("--accounts", type=int, default=2000)
    seed.add_argument("--payments", type=int, default=20000)
    seed.add_argument("--state", required=True, help="the state file `serve --state` reads")
    seed.add_argument(
        "--events-out",
        required=True,
        help="JSON Lines file for the seed's events (`manage.py events ingest-file` loads it)",
    )
    seed.add_argument("--seed", type=int, default=None)
    seed.set_defaults(run=_seed_file)
    traffic = sub.add_parser("traffic", help="publish generated traffic once and exit")
    traffic.add_argument("--broker", default=broker)
    traffic.add_argument("--exchange", default=os.environ.get("EVENTS_EXCHANGE", "events"))
    traffic.add_argument("--events", type=int, default=10_000)
    traffic.add_argument("--aggregates", type=int, default=2_000)
    traffic.add_argument("--duplicates", type=float, default=0.0)
    traffic.add_argument("--reorder", type=float, default=0.0)
    traffic.add_argument("--malformed", type=float, default=0.0)
    traffic.add_argument("--seed", type=int, default=0)
    traffic.add_argument(
        "--window",
        type=int,
        default=1000,
        help="messages in flight before waiting for the broker's confirms (1: wait for each)",
    )
    traffic.set_defaults(run=_traffic)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
