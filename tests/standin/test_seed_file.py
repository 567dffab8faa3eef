"""The stand-in's seed as files: its state, and its events as JSON Lines for ``events ingest-file``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest
from django.conf import settings

from apps.events.message_file import FileMessage, read_message_lines
from apps.events.schema import Event, parse_event
from tests.events.conftest import ROOT, Bus
from tests.standin.test_http_api import Tap


def seed(tmp_path, *, accounts: int, payments: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.standin",
            "seed",
            "--accounts",
            str(accounts),
            "--payments",
            str(payments),
            "--state",
            str(tmp_path / "state.json"),
            "--events-out",
            str(tmp_path / "seed.jsonl"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_seed_writes_the_state_and_events_the_portal_accepts(tmp_path):
    seed(tmp_path, accounts=20, payments=150)

    state = json.loads((tmp_path / "state.json").read_text())
    assert (len(state["accounts"]), len(state["payments"])) == (20, 150)
    with (tmp_path / "seed.jsonl").open("rb") as file:
        lines = list(read_message_lines(file))
    messages = [item for _, item in lines]
    assert all(isinstance(m, FileMessage) for m in messages)
    events = [parse_event(m.body.encode()) for m in messages]  # raises on a malformed one
    assert all(isinstance(e, Event) for e in events)
    assert all(m.routing_key == e.type for m, e in zip(messages, events, strict=True))
    assert {m.content_type for m in messages} == {"application/cloudevents+json"}
    # Every change of every aggregate is there once: the last sequence is the state's.
    last = Counter()
    for event in events:
        assert event.sequence == last[event.subject] + 1
        last[event.subject] = event.sequence
    stored = {a["account_id"]: a["sequence"] for a in state["accounts"]}
    stored |= {p["payment_id"]: p["sequence"] for p in state["payments"]}
    assert {str(k): v for k, v in last.items()} == stored
    assert not list(tmp_path.glob("*.partial"))


def test_seed_adds_only_what_the_state_lacks(tmp_path):
    seed(tmp_path, accounts=10, payments=30)
    second = seed(tmp_path, accounts=12, payments=30)

    state = json.loads((tmp_path / "state.json").read_text())
    assert (len(state["accounts"]), len(state["payments"])) == (12, 30)
    assert "wrote 2 events" in second.stdout
    bodies = [json.loads(json.loads(line)["body"]) for line in (tmp_path / "seed.jsonl").open()]
    assert [b["type"] for b in bodies] == ["account.created", "account.created"]


@pytest.mark.broker
def test_serve_with_a_seeded_state_publishes_live_traffic_only(tmp_path):
    seed(tmp_path, accounts=10, payments=40)
    bus = Bus(settings.CELERY_BROKER_URL)
    tap = Tap(bus.broker_url, bus.exchange)
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.standin",
            "serve",
            "--port",
            "0",
            "--rate",
            "0",
            "--broker",
            bus.broker_url,
            "--exchange",
            bus.exchange,
            "--state",
            str(tmp_path / "state.json"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = serve.stdout.readline()
        url = re.search(r"http://[\d.]+:\d+", banner).group(0)
        assert "restored 10 accounts and 40 payments" in serve.stdout.readline()
        time.sleep(0.5)
        assert tap.events(wait_for=1, timeout=1.0) == []  # nothing of the seed again

        created = httpx.post(f"{url}/_standin/payments", json={"status": "pending"}).json()

        published = tap.events(wait_for=2, timeout=3.0)
        assert [(e["type"], e["subject"]) for e in published] == [
            ("payment.created", created["payment_id"])
        ]
    finally:
        serve.terminate()
        serve.wait(10)
        tap.connection.release()
        bus.delete()
