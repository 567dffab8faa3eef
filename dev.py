#!/usr/bin/env python3
"""The portal's front door for people and CI: install, run the demo, run the tests.

    python3 dev.py demo      # install, migrate, seed, start every process, print URL and users
    python3 dev.py test      # install, check the test services, run the whole suite
    python3 dev.py install   # only (re)install the locked dependencies into .venv

Standard library only, so it runs on a fresh machine with nothing but Python
3.11+. Dependencies come from ``uv.lock`` (installed with uv, which is itself
pip-installed into ``.venv``); a second run with an unchanged lock skips the
install entirely.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".portal-installed"
DEFAULT_TEST_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def fail(message: str) -> None:
    print(f"\033[31mError:\033[0m {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True)


def install() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 — this script may be started by an older python3
        fail(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    lock = ROOT / "uv.lock"
    fingerprint = hashlib.sha256(
        lock.read_bytes() + (ROOT / "pyproject.toml").read_bytes() + sys.version.encode()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == fingerprint and PYTHON.exists():
        return
    if not PYTHON.exists():
        say("Creating the virtual environment in .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    uv = BIN / "uv"
    if not uv.exists():
        say("Installing uv into .venv")
        run(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv>=0.5")
    say("Installing the locked dependencies (uv.lock)")
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV)}
    run(uv, "sync", "--frozen", "--inexact", "--extra", "dev", "--python", PYTHON, env=env)
    STAMP.write_text(fingerprint)


def django_env(settings: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_rabbitmq(url: str) -> None:
    """The integration tests talk to a real RabbitMQ; start a local one if it is installed."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    if port_open(host, port):
        return
    server = shutil.which("rabbitmq-server")
    if server and host in {"127.0.0.1", "localhost"}:
        say("Starting the local RabbitMQ (rabbitmq-server -detached)")
        subprocess.run([server, "-detached"], check=False)
        for _ in range(60):
            if port_open(host, port):
                return
            time.sleep(1)
    fail(
        f"The tests need RabbitMQ at {host}:{port} (CELERY_BROKER_URL) and none answers.\n"
        "  Debian/Ubuntu: sudo apt-get install rabbitmq-server\n"
        "  macOS:         brew install rabbitmq && brew services start rabbitmq\n"
        "  or point CELERY_BROKER_URL at a running broker."
    )


def ensure_chromium() -> None:
    configured = os.environ.get("PORTAL_CHROMIUM")
    if configured:
        if not Path(configured).exists():
            fail(f"PORTAL_CHROMIUM={configured} does not exist.")
        return
    if Path("/usr/bin/chromium").exists():
        return
    mac_chrome = Path("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome")
    if mac_chrome.exists():
        os.environ["PORTAL_CHROMIUM"] = str(mac_chrome)
        return
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        say("Installing Debian's chromium for the browser tests")
        subprocess.run([apt, "update", "-qq"], check=True)
        subprocess.run(
            [apt, "install", "-y", "-qq", "chromium"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        return
    fail(
        "The browser tests need Chromium. Install it with: sudo apt-get install chromium\n"
        "  (or set PORTAL_CHROMIUM to a Chromium/Chrome binary)."
    )


def command_test(args: list[str]) -> int:
    install()
    env = django_env("portal.settings.test")
    env.setdefault("CELERY_BROKER_URL", DEFAULT_TEST_BROKER)
    ensure_rabbitmq(env["CELERY_BROKER_URL"])
    ensure_chromium()
    env.update({k: v for k, v in os.environ.items() if k == "PORTAL_CHROMIUM"})
    say("Lint: ruff check and ruff format --check")
    run(BIN / "ruff", "check", ".", env=env)
    run(BIN / "ruff", "format", "--check", ".", env=env)
    say("Tests: pytest")
    return subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env).returncode


DEMO_ENV = {
    "OIDC_SERVER_URL": "http://127.0.0.1:8001",
    "OIDC_CLIENT_ID": "operations-portal",
    "OIDC_CLIENT_SECRET": "development-client-secret",
    "OIDC_PROVIDER_NAME": "Development IdP",
    "PAYMENTS_API_URL": "http://127.0.0.1:8100",
    "PAYMENTS_API_TOKEN": "payments-token",
    "ACCOUNTS_API_URL": "http://127.0.0.1:8100",
    "ACCOUNTS_API_TOKEN": "accounts-token",
    "REFUND_APPROVAL_THRESHOLDS": "EUR:250,USD:250,GBP:200,CHF:250,SEK:2500,JPY:30000,KWD:75",
    # A service token to try the portal's API with (docs/api.md); development only.
    "SERVICE_API_TOKENS": "demo-service:demo-service-token-for-local-use-only",
    # Links in the managers' notices (printed by the worker: the console e-mail backend).
    "PORTAL_BASE_URL": "http://127.0.0.1:8000",
}


def command_demo(args: list[str]) -> int:
    install()
    env = django_env("portal.settings.development")
    for name, value in DEMO_ENV.items():
        env.setdefault(name, value)
    say("Preparing the database (embedded PostgreSQL unless DATABASE_URL is set)")
    (ROOT / ".local").mkdir(exist_ok=True)
    _demo_signing_key(env)
    run(PYTHON, "manage.py", "migrate", "--no-input", env=env)
    # The Go stand-in must publish where the portal consumes: with no broker configured
    # that is the embedded one, whose URL only the portal's settings know.
    env.setdefault("EVENTS_BROKER_URL", _settings_value("EVENTS_BROKER_URL", env))
    run(PYTHON, "-m", "devtools.sql_broker", env=env)
    _demo_seed(env)
    procfile = ROOT / "devtools" / "Procfile.demo"
    say(
        "Starting web, worker (with the event intake), beat, the development IdP and the Go stand-in"
    )
    sys.path.insert(0, str(ROOT))
    from devtools.idp.demo_users import PASSWORD, USERS

    users = "\n".join(f"    {name:<7} {purpose}" for name, _, _, _, purpose in USERS)
    print(
        f"\n  Portal:   http://127.0.0.1:8000/   (sign in with the Development IdP)\n"
        f"  Users (password {PASSWORD!r}):\n{users}\n"
        f"  Go stand-in: http://127.0.0.1:8100/   IdP: http://127.0.0.1:8001/\n"
        f"  API: http://127.0.0.1:8000/api/docs/   token: "
        f"{env['SERVICE_API_TOKENS'].split(':', 1)[1].split(',')[0]}\n"
        f"  Ctrl-C stops everything; the data stays in .local/ for the next run.\n",
        flush=True,
    )
    supervisor = subprocess.Popen(
        [str(BIN / "honcho"), "--procfile", str(procfile), "--app-root", str(ROOT), "start"],
        cwd=ROOT,
        env=env,
    )
    # Ctrl-C reaches every process through the terminal; a SIGTERM sent to this script
    # alone (a service manager, `timeout`) is passed on so nothing is left running.
    signal.signal(signal.SIGTERM, lambda *_: supervisor.send_signal(signal.SIGINT))
    while True:
        try:
            code = supervisor.wait()
            break
        except KeyboardInterrupt:
            continue  # honcho got the same Ctrl-C and is stopping its processes
    if "DATABASE_URL" not in os.environ:
        # A process killed by a signal cannot stop the embedded server on its way out.
        stop = "from portal.embedded_postgres import stop_when_unused; stop_when_unused()"
        subprocess.run([str(PYTHON), "-c", stop], cwd=ROOT, env=env, check=False)
    return code


SEED_ACCOUNTS, SEED_PAYMENTS = 2000, 20000


def _demo_seed(env: dict[str, str]) -> None:
    """The Go stand-in's history, loaded into the portal before anything starts.

    Published one by one, the seed's ~57,000 events kept the intake busy for
    minutes on the embedded broker. Instead the stand-in writes its state and
    the seed's events to files once (``standin seed``); the portal applies
    them through the intake's own batch path (``events ingest-file``, seconds)
    and the stand-in then starts from that state, publishing only live
    traffic. A file not yet ingested (a run stopped in between) is ingested
    on the next run; once in, it is renamed, so a second run loads nothing.
    """
    local = ROOT / ".local"
    state, events = local / "standin-state.json", local / "standin-seed-events.jsonl"
    if not state.exists():
        say(
            f"Seeding the Go stand-in: {SEED_ACCOUNTS:,} accounts and {SEED_PAYMENTS:,} payments "
            "(their events to a file)"
        )
        run(
            PYTHON, "-m", "devtools.standin", "seed",
            "--accounts", str(SEED_ACCOUNTS), "--payments", str(SEED_PAYMENTS),
            "--state", state, "--events-out", events,
            env=env,
        )  # fmt: skip
    if events.exists():
        say("Loading the seed's events into the portal (manage.py events ingest-file)")
        run(PYTHON, "manage.py", "events", "ingest-file", events, env=env)
        events.replace(events.with_name(events.name + ".ingested"))


def _demo_signing_key(env: dict[str, str]) -> None:
    """Signed digests of the action log in the demo: a development key, made once in .local/.

    Development only; production brings its own AUDIT_SIGNING_KEY (docs/audit.md).
    """
    if env.get("AUDIT_SIGNING_KEY") or env.get("AUDIT_SIGNING_KEY_FILE"):
        return
    key = ROOT / ".local" / "audit-signing-key.dev.pem"
    if not key.exists():
        say(f"Generating a development signing key for the action log's digests ({key})")
        code = (
            "import os, sys; from apps.audit.signing import generate_signing_key_pem as g; "
            "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600); "
            "os.write(fd, g()); os.close(fd)"
        )
        run(PYTHON, "-c", code, key)
    env["AUDIT_SIGNING_KEY_FILE"] = str(key)
    # Digests every 10 minutes in the demo, so an auditor sees some soon.
    env.setdefault("AUDIT_DIGEST_MINUTES", "10")


def _settings_value(name: str, env: dict[str, str]) -> str:
    code = (
        f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    )
    result = subprocess.run(
        [str(PYTHON), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


COMMANDS = {"demo": command_demo, "test": command_test}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    name, rest = argv[0], argv[1:]
    if name == "install":
        install()
        return 0
    if name not in COMMANDS:
        fail(f"unknown command {name!r}; use one of: demo, test, install")
    try:
        return COMMANDS[name](rest)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
