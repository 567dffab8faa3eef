"""List and detail pages at a million payments: the portal beside the stock admin and a bare view.

    .venv/bin/python -m benchmarks.lists [--database portal_bench_lists] [--runs 21]
        [--clients 8 --seconds 10] [--no-gunicorn]

One run prints everything docs/lists.md records:

1. In one process (Django test client, a signed-in agent, server time of the
   full response): for each page, the median of ``--runs`` requests of the
   full page and of its htmx results fragment, the queries each runs, their
   SQL time; beside it the stock admin changelist for the same rows
   (configured in its favour, benchmarks/list_urls.py) and a bare Django
   keyset view; ratios admin ÷ portal and portal ÷ bare view.
2. Under gunicorn with the production settings' worker model
   (portal/gunicorn.conf.py: 2 x CPU + 1 sync workers, persistent database
   connections), a signed-in session and ``--clients`` concurrent keep-alive
   clients: requests/s and p50/p95 latency of the portal's payments list and
   of the bare view, and the portal's share of the bare view's requests/s.

The data (benchmarks/lists_data.py: 1,000,000 payments, 50,000 accounts) is
made by generate_series in under a minute and kept: a later run reuses it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg

from benchmarks.common import ROOT, database_url, manage, server_url, wait_until
from benchmarks.lists_data import load, loaded

SIGN_IN_BACKEND = "allauth.account.auth_backends.AuthenticationBackend"
STATIC_ROOT = ROOT / ".local" / "bench-static"  # collected once for WhiteNoise's manifest
FRAGMENT = {"HX-Request": "true", "HX-Target": "results"}


def ensure_database(name: str) -> str:
    admin = server_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def timed(client, url: str, runs: int, headers: dict | None = None) -> tuple[float, int, float]:
    """(median ms, statements, SQL ms) of ``runs`` requests after two warm-up requests.

    Statements are what the request sent through Django's cursor; transaction control
    (BEGIN/COMMIT around the count's statement_timeout) is not among them.
    """
    from django.db import connection

    timings = []
    for index in range(runs + 2):
        started = time.perf_counter()
        response = client.get(url, headers=headers or {})
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, (url, response.status_code)
        if index >= 2:
            timings.append(elapsed)
    spent: list[float] = []

    def clock(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(time.perf_counter() - began)

    with connection.execute_wrapper(clock):
        client.get(url, headers=headers or {})
    return statistics.median(timings), len(spent), sum(spent) * 1000


def detail_fixtures(person) -> tuple[str, str, str]:
    """A payment with refunds' events and a refund request, its account: (payment, account, request) ids."""
    from django.utils import timezone

    from apps.approvals.models import RefundRequest
    from apps.events.models import ReceivedEvent
    from apps.payments.models import Payment

    payment = Payment.objects.select_related("account").order_by("-created_at").first()
    now = timezone.now()
    for subject, kind, count in (
        (payment.payment_id, "payment", 12),
        (payment.account_id, "account", 8),
    ):
        for sequence in range(1, count + 1):
            ReceivedEvent.objects.get_or_create(
                source="bench",
                event_id=f"{kind}-{subject}-{sequence}",
                defaults={
                    "type": f"{kind}.updated",
                    "subject": subject,
                    "sequence": sequence,
                    "occurred_at": now - timedelta(minutes=count - sequence),
                    "received_at": now - timedelta(minutes=count - sequence),
                    "outcome": "applied",
                    "data": {"sequence": sequence},
                },
            )
    request = RefundRequest.objects.filter(payment=payment, requested_by=person).first()
    if request is None:
        request = RefundRequest.objects.create(
            payment=payment,
            reason="Customer returned the goods (benchmark)",
            requested_by=person,
            requested_at=now,
            expires_at=now + timedelta(days=7),
            checked_at=now,
            payload_digest="0" * 64,
            target_state_digest="0" * 64,
            amount_cents=max(payment.amount_cents // 2, 1),
            currency=payment.currency,
            category="other",
        )
    return str(payment.payment_id), str(payment.account_id), str(request.id)


def pages(payment_id: str, account_id: str, request_id: str) -> list[tuple]:
    """(name, portal URL, admin URL or None, bare URL or None, has a results fragment)."""
    from django.utils import timezone

    from apps.home.paging import encode_cursor
    from apps.payments.models import Payment

    fiftieth = Payment.objects.order_by("-created_at", "-payment_id").values_list(
        "created_at", "payment_id"
    )[49 * 50 - 1]
    after = encode_cursor(*fiftieth)
    old_month = (timezone.now() - timedelta(days=180)).strftime("%Y%m")
    prefix = payment_id[:6]
    return [
        (
            "payments, newest first",
            "/payments/",
            "/admin/payments/payment/",
            "/bare/payments/",
            True,
        ),
        (
            "payments, rare status x KWD",
            "/payments/?status=partially_refunded&currency=KWD",
            "/admin/payments/payment/?status__exact=partially_refunded&currency__exact=KWD",
            "/bare/payments/?status=partially_refunded&currency=KWD",
            True,
        ),
        (
            "payments, common status x EUR",
            "/payments/?status=settled&currency=EUR",
            "/admin/payments/payment/?status__exact=settled&currency__exact=EUR",
            "/bare/payments/?status=settled&currency=EUR",
            True,
        ),
        (
            "payments, KWD amount >= 4,000",
            "/payments/?currency=KWD&amount_min=4000",
            "/admin/payments/payment/?currency__exact=KWD&amount_cents__gte=4000000",
            None,
            True,
        ),
        (
            "payments, one account",
            f"/payments/?account={account_id}",
            f"/admin/payments/payment/?account__exact={account_id}",
            None,
            True,
        ),
        (
            "payments, id prefix",
            f"/payments/?q={prefix}",
            f"/admin/payments/payment/?q={prefix}",
            None,
            True,
        ),
        (
            f"payments, old reference INV-{old_month}-",
            f"/payments/?q=INV-{old_month}-",
            f"/admin/payments/payment/?q=INV-{old_month}-",
            None,
            True,
        ),
        (
            "payments, page 50 via Next",
            f"/payments/?after={after}",
            "/admin/payments/payment/?p=50",
            f"/bare/payments/?after={after}",
            True,
        ),
        (
            "accounts, newest first",
            "/accounts/",
            "/admin/accounts/account/",
            "/bare/accounts/",
            True,
        ),
        (
            "accounts, e-mail prefix",
            "/accounts/?q=owner4242",
            "/admin/accounts/account/?q=owner4242",
            None,
            True,
        ),
        ("payment detail", f"/payments/{payment_id}/", None, None, False),
        ("account detail", f"/accounts/{account_id}/", None, None, False),
        ("request detail", f"/requests/{request_id}/", None, None, False),
    ]


def in_process(client, runs: int, rows: list[tuple]) -> None:
    header = (
        f"{'page':<40}{'full ms':>9}{'frag ms':>9}{'stmts':>7}{'SQL ms':>8}"
        f"{'admin':>8}{'x':>7}{'lean':>8}{'x':>7}{'bare ms':>9}{'us/bare':>9}"
    )
    print(
        f"\nIn-process medians of {runs} requests (a signed-in agent; the admins: a superuser)\n"
        "stmts: statements of the full page / the fragment; SQL ms: their time in the full page;\n"
        "admin: the stock changelist as the issue configured it, ms; lean: the same with\n"
        "show_full_result_count=False, ms; x: admin ms / portal full-page ms\n"
        f"{header}"
    )
    admin_runs = max(runs // 3, 5)
    empty = timed(client, "/bare/empty/", runs)[0]
    print(
        f"{'an empty signed-in response (the floor)':<40}{empty:>9.1f}"
        "   (session, user, middleware, role check; no rows, no template)"
    )
    for name, url, admin_url, bare_url, has_fragment in rows:
        full, queries, sql = timed(client, url, runs)
        fragment, fragment_queries = (None, None)
        if has_fragment:
            fragment, fragment_queries, _ = timed(client, url, runs, FRAGMENT)
        admin = timed(client, admin_url, admin_runs)[0] if admin_url else None
        lean = timed(client, f"/lean-{admin_url[1:]}", admin_runs)[0] if admin_url else None
        bare = timed(client, bare_url, runs)[0] if bare_url else None
        counts = f"{queries}/{'-' if fragment_queries is None else fragment_queries}"
        print(
            f"{name:<40}{full:>9.1f}{_f(fragment):>9}{counts:>7}{sql:>8.1f}"
            f"{_f(admin):>8}{_ratio(admin, full):>7}{_f(lean):>8}{_ratio(lean, full):>7}"
            f"{_f(bare):>9}{_ratio(full, bare):>9}",
            flush=True,
        )


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    return "-" if numerator is None or not denominator else f"{numerator / denominator:.1f}x"


# --- gunicorn ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_env(db_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.list_gunicorn_settings",
        "DJANGO_SECRET_KEY": "test-only-key",  # the key the benchmark's session was signed with
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL") or "amqp://guest@127.0.0.1//",
        "SECURE_SSL_REDIRECT": "false",
        "AUDIT_DIGEST_MINUTES": "0",  # production needs a signing key only while digests are on
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "LOG_LEVEL": "ERROR",
        "BENCH_STATIC_ROOT": str(STATIC_ROOT),
    }


def start_gunicorn(db_url: str, port: int) -> subprocess.Popen:
    env = gunicorn_env(db_url, port)
    if not (STATIC_ROOT / "staticfiles.json").exists():
        manage("collectstatic", "--noinput", "-v0", env=env)
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "portal/gunicorn.conf.py", "portal.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def load_test(
    port: int, path: str, cookie: str, clients: int, seconds: float
) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p95 ms) of ``clients`` keep-alive clients for ``seconds`` after 1 s warm-up."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 1 + seconds
    measure_from = time.monotonic() + 1
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while (now := time.monotonic()) < stop_at:
            conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{path}: {response.status}")
                return
            if now >= measure_from:
                mine.append((time.monotonic() - now) * 1000)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    latencies.sort()
    return (
        len(latencies) / seconds,
        latencies[len(latencies) // 2],
        latencies[int(len(latencies) * 0.95)],
    )


def with_cookies_set_by(port: int, path: str, cookie: str) -> str:
    """The cookies a browser would send after one visit (the CSRF cookie besides the session)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
    response = conn.getresponse()
    response.read()
    jar = dict(pair.split("=", 1) for pair in cookie.split("; "))
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            key, _, rest = value.split(";", 1)[0].partition("=")
            jar[key] = rest
    return "; ".join(f"{key}={value}" for key, value in jar.items())


def under_gunicorn(db_url: str, session_key: str, clients: int, seconds: float) -> None:
    port = free_port()
    server = start_gunicorn(db_url, port)
    cookie = f"__Host-portal-session={session_key}"
    try:

        def ready() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
                return conn.getresponse().status == 200
            except OSError:
                return False

        wait_until(ready, timeout=60, interval=0.2)
        cookie = with_cookies_set_by(port, "/payments/", cookie)
        workers = len(
            subprocess.run(
                ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
            ).stdout.split()
        )
        print(
            f"\ngunicorn, production settings ({workers} sync workers), {clients} keep-alive clients, "
            f"{seconds:.0f} s each\n{'page':<40}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        )
        rare = "?status=partially_refunded&currency=KWD"
        shares = []
        # Each portal page beside the bare view over the same rows and filters, run back to back.
        for label, query in (("newest first", ""), ("rare status x KWD", rare)):
            bare = load_test(port, f"/bare/payments/{query}", cookie, clients, seconds)
            portal = load_test(port, f"/payments/{query}", cookie, clients, seconds)
            for name, (rate, p50, p95) in (
                (f"bare keyset view, {label}", bare),
                (f"portal, payments {label}", portal),
            ):
                print(f"{name:<40}{rate:>9.0f}{p50:>9.1f}{p95:>9.1f}", flush=True)
            shares.append((label, portal[0] / bare[0]))
        for label, share in shares:
            print(f"portal's share of the bare view's requests/s, {label}: {share:.0%}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="portal_bench_lists")
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--no-gunicorn", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    db_url = ensure_database(args.database)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.list_settings",
        "LOG_LEVEL": "ERROR",
        "DATABASE_URL": db_url,
    }
    manage("migrate", "-v0", env=env)
    if loaded(db_url, accounts=args.accounts, payments=args.payments):
        print(
            f"reusing {args.accounts:,} accounts and {args.payments:,} payments in {args.database}"
        )
    else:
        took = load(db_url, accounts=args.accounts, payments=args.payments)
        print(f"loaded {args.accounts:,} accounts and {args.payments:,} payments in {took:.0f} s")
    os.environ.update(env)
    import django

    django.setup()
    from django.test import Client

    from apps.identity.models import User

    print(
        f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    person, _ = User.objects.get_or_create(
        username="bench",
        defaults={
            "email": "bench@example.com",
            "roles": ["agent"],
            "is_staff": True,
            "is_superuser": True,
        },
    )
    client = Client()
    client.force_login(person, backend=SIGN_IN_BACKEND)
    in_process(client, args.runs, pages(*detail_fixtures(person)))
    if not args.no_gunicorn:
        under_gunicorn(db_url, client.cookies["sessionid"].value, args.clients, args.seconds)
    print(
        f"\ndone in {time.perf_counter() - started:.0f} s; load average now "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
