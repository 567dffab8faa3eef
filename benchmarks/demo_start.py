"""Demo start benchmark: how long until ``python3 dev.py demo`` shows live data, first and second time.

    .venv/bin/python -m benchmarks.demo_start [--ref HEAD] [--timeout 600] [--keep]

Clones ``--ref`` of this repository into a temporary folder and runs
``python3 dev.py demo`` there as a new user would, on the embedded defaults
(``DATABASE_URL``, ``CELERY_BROKER_URL`` and the other portal variables are
removed from its environment: the embedded PostgreSQL and kombu's SQL
transport on it). It measures, from the command's start:

- **URL**: until the portal's URL is printed (install, migrations, the seed);
- **caught up**: until every page would show no "out of date" banner — the
  banner's own check (``apps.home.context_processors``) answers nothing to
  show, a consumer has applied a batch, and the read models hold the seed
  (``SEED_ACCOUNTS`` accounts, ``SEED_PAYMENTS`` payments).

Then it stops the demo as Ctrl-C does, starts it a second time on the same
folder (the data kept in ``.local/``) and measures again. The demo listens on
ports 8000, 8001 and 8100, which must be free.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import ROOT

PORTS = (8000, 8001, 8100)
# Everything that would point the clone at this machine's servers instead of its defaults.
CLEARED = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "EVENTS_BROKER_URL",
    "DJANGO_SETTINGS_MODULE",
    "VIRTUAL_ENV",
    "PORTAL_EMBEDDED_PGDATA",
    "CACHE_URL",
)
URL_LINE = "Portal:   http://127.0.0.1:8000/"

# Runs with the clone's interpreter and settings: the banner's check, a line a second.
PROBE = """
import json, time, django
django.setup()
from apps.accounts.models import Account
from apps.events.selectors import intake_freshness
from apps.home.context_processors import _intake_lag
from apps.payments.models import Payment
while True:
    freshness = intake_freshness()
    print(json.dumps({
        "banner": _intake_lag(),
        "consumer_batches": freshness.last_batch_at is not None,
        "lag": freshness.lag_seconds(),
        "accounts": Account.objects.count(),
        "payments": Payment.objects.count(),
    }), flush=True)
    time.sleep(0.5)
"""


@dataclass
class Start:
    url_seconds: float | None = None
    caught_up_seconds: float | None = None
    ingest_line: str = ""
    last_probe: dict = field(default_factory=dict)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    return env


def clone(ref: str, into: Path) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(into)], check=True)
    subprocess.run(["git", "checkout", "--quiet", commit], cwd=into, check=True)
    return commit


def run_demo(folder: Path, *, label: str, timeout: float, log: Path) -> Start:
    """Start ``dev.py demo``, time the URL and the catch-up, stop it as Ctrl-C would."""
    seed_accounts, seed_payments = _seed_size(folder)
    env = clean_env()
    result = Start()
    started = time.monotonic()
    python3 = shutil.which("python3", path=env["PATH"]) or sys.executable
    demo = subprocess.Popen(
        [python3, "dev.py", "demo"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url_seen = threading.Event()

    def read_output() -> None:
        with log.open("a") as out:
            out.write(f"\n===== {label} =====\n")
            for line in demo.stdout:
                out.write(line)
                if URL_LINE in line and not url_seen.is_set():
                    result.url_seconds = time.monotonic() - started
                    url_seen.set()
                if line.startswith("Ingested "):
                    result.ingest_line = line.strip()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    probe = None
    try:
        if not url_seen.wait(timeout):
            raise TimeoutError(f"{label}: no URL within {timeout:.0f}s (see {log})")
        print(f"  {label}: URL after {result.url_seconds:.1f}s", flush=True)
        probe_env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "portal.settings.development",
            "PORTAL_FRESHNESS_CACHE_SECONDS": "0",
        }
        probe = subprocess.Popen(
            [str(folder / ".venv" / "bin" / "python"), "-c", PROBE],
            cwd=folder,
            env=probe_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = started + timeout
        for line in probe.stdout:
            state = json.loads(line)
            result.last_probe = state
            if (
                state["banner"] is None
                and state["consumer_batches"]
                and state["accounts"] >= seed_accounts
                and state["payments"] >= seed_payments
            ):
                result.caught_up_seconds = time.monotonic() - started
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: not caught up within {timeout:.0f}s: {state}")
        print(f"  {label}: caught up after {result.caught_up_seconds:.1f}s", flush=True)
    finally:
        if probe is not None:
            probe.terminate()
            probe.wait(10)
        _stop(demo)
        reader.join(10)
    return result


def _seed_size(folder: Path) -> tuple[int, int]:
    text = (folder / "dev.py").read_text()
    found = re.search(r"SEED_ACCOUNTS, SEED_PAYMENTS = (\d+), (\d+)", text)
    return (int(found[1]), int(found[2])) if found else (2000, 20000)


def _stop(demo: subprocess.Popen) -> None:
    """Ctrl-C to the demo's process group, as a terminal sends it; harder only if it hangs."""
    for sig, wait in ((signal.SIGINT, 60), (signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if demo.poll() is not None:
            return
        try:
            os.killpg(demo.pid, sig)
        except ProcessLookupError:
            return
        try:
            demo.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo_start")
    parser.add_argument("--ref", default="HEAD", help="the commit to clone (default HEAD)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per start")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its log")
    args = parser.parse_args()
    busy = [port for port in PORTS if not port_free(port)]
    if busy:
        sys.exit(f"The demo needs ports {PORTS} free; in use: {busy}.")
    folder = Path(tempfile.mkdtemp(prefix="portal-demo-start-")) / "portal"
    log = folder.parent / "demo.log"
    commit = clone(args.ref, folder)
    load_before = os.getloadavg()
    print(
        f"demo start of {commit[:10]} in {folder} — {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {load_before[0]:.2f}",
        flush=True,
    )
    try:
        first = run_demo(folder, label="first start", timeout=args.timeout, log=log)
        second = run_demo(folder, label="second start", timeout=args.timeout, log=log)
    finally:
        if not args.keep:
            shutil.rmtree(folder.parent, ignore_errors=True)
    print()
    print(f"{'':<14}{'URL printed':>14}{'caught up':>12}")
    for label, start in (("first start", first), ("second start", second)):
        print(f"{label:<14}{start.url_seconds:>13.1f}s{start.caught_up_seconds:>11.1f}s")
    print(f"seed loaded on the first start: {first.ingest_line or '(not seen)'}")
    print(f"second start loaded: {second.ingest_line or 'nothing (as it should)'}")
    load_after = os.getloadavg()
    print(f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    if args.keep:
        print(f"kept: {folder} (log: {log})")


if __name__ == "__main__":
    main()
