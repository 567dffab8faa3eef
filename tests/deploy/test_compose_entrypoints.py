"""The commands and healthchecks of compose.yaml, run for real with the arguments it passes.

Each process starts as compose starts it — same module, same flags, same environment
variables — with only what Docker would provide swapped for this machine: a free port on
127.0.0.1 instead of the container's, the test database and RabbitMQ instead of the
``postgres`` and ``rabbitmq`` services.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu import Connection

from apps.events.intake import declare_topology
from apps.identity.role_mapping import parse_role_groups, roles_for_groups
from devtools.idp.demo_users import PASSWORD, USERS
from tests.deploy.compose_file import (
    CALLBACK_PATH,
    ROOT,
    command,
    env,
    healthcheck_code,
    option,
    replace_option,
    services,
)
from tests.events.conftest import Bus, wait_until
from tests.events.conftest import this_runs_database_url as database_url_of_this_run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], environment: dict[str, str], log_path) -> subprocess.Popen:
    assert args[0] == "python"
    log = open(log_path, "wb")  # noqa: SIM115 — handed to the child process
    return subprocess.Popen(
        [sys.executable, *args[1:]], cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def run_healthcheck(code: str, environment: dict[str, str] | None = None) -> int:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment or dict(os.environ),
        capture_output=True,
        timeout=60,
        check=False,
    ).returncode


def base_env() -> dict[str, str]:
    """This machine's environment without the portal's own settings module."""
    environment = dict(os.environ)
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return environment


# --- the development IdP -------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_idp(tmp_path_factory) -> Iterator[str]:
    """``idp`` as compose runs it, on a free port; yields its issuer as the portal would see it."""
    port = free_port()
    args = replace_option(command("idp"), "--host", "127.0.0.1")
    args = replace_option(args, "--port", str(port))
    environment = {**base_env(), **env("idp")}
    # The compose database server is `postgres`; here it is the test run's server.
    if os.environ.get("DATABASE_URL"):
        environment["DATABASE_URL"] = os.environ["DATABASE_URL"]
    else:
        environment.pop("DATABASE_URL")  # the IdP then uses the embedded server, as in the demo
    environment["DEVIDP_DATABASE_NAME"] = "portal_compose_devidp"
    environment["DEVIDP_STATE_DIR"] = str(tmp_path_factory.mktemp("compose-idp"))
    log_path = tmp_path_factory.mktemp("compose-idp-log") / "idp.log"
    process = start(args, environment, log_path)
    issuer = urlsplit(env("web")["OIDC_SERVER_URL"])._replace(netloc=f"localhost:{port}").geturl()
    try:
        wait_until(
            lambda: (
                _answers(f"{issuer}/.well-known/openid-configuration") or process.poll() is not None
            ),
            timeout=90,
            interval=0.3,
        )
        assert process.poll() is None, log_path.read_text()
        yield issuer
    finally:
        stop(process)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _signed_in_client(issuer: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=issuer, follow_redirects=False, timeout=10)
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token, "login": username, "password": PASSWORD},
        headers={"Referer": f"{issuer}/accounts/login/"},
    )
    assert answer.status_code == 302, f"{username} could not sign in at the IdP"
    return client


def _authorize(client: httpx.Client, redirect_uri: str, challenge: str) -> httpx.Response:
    return client.get(
        "/identity/o/authorize",
        params={
            "client_id": env("web")["OIDC_CLIENT_ID"],
            "response_type": "code",
            "scope": "openid profile email",
            "redirect_uri": redirect_uri,
            "state": "compose-test",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )


def _claims(id_token: str) -> dict:
    import json

    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_idp_names_itself_by_the_url_the_portal_is_configured_with(compose_idp):
    discovery = httpx.get(f"{compose_idp}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == compose_idp
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
        assert discovery[endpoint].startswith(compose_idp + "/")
    assert "S256" in discovery["code_challenge_methods_supported"]


def test_the_idp_returns_people_to_the_portals_callback_and_nowhere_else(compose_idp):
    client = _signed_in_client(compose_idp, "alice")
    _, challenge = _pkce()
    for base in option(command("idp"), "--portal-url"):
        callback = base.rstrip("/") + CALLBACK_PATH
        answer = _authorize(client, callback, challenge)
        assert answer.status_code == 302, f"{callback} is not registered"
        assert answer.headers["location"].startswith(callback + "?code=")
    elsewhere = _authorize(client, "http://localhost:8000/somewhere-else/", challenge)
    assert elsewhere.status_code != 302


@pytest.mark.parametrize(("username", "_first", "_last", "groups", "_purpose"), USERS)
def test_each_demo_user_gets_the_role_compose_maps_their_groups_to(
    compose_idp, username, _first, _last, groups, _purpose
):
    client = _signed_in_client(compose_idp, username)
    verifier, challenge = _pkce()
    callback = option(command("idp"), "--portal-url")[0].rstrip("/") + CALLBACK_PATH
    code = re.search(r"code=([^&]+)", _authorize(client, callback, challenge).headers["location"])
    token = httpx.post(
        f"{compose_idp}/identity/o/api/token",
        auth=(env("web")["OIDC_CLIENT_ID"], env("web")["OIDC_CLIENT_SECRET"]),
        data={
            "grant_type": "authorization_code",
            "code": code.group(1),
            "redirect_uri": callback,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    claims = _claims(token.json()["id_token"])
    assert claims["iss"] == compose_idp
    assert claims["aud"] == env("web")["OIDC_CLIENT_ID"]
    assert claims["email"] == f"{username}@example.com"
    sent = claims[env("web")["OIDC_GROUPS_CLAIM"]]
    assert sent == sorted(groups)
    mapping = parse_role_groups(env("web")["PORTAL_ROLE_GROUPS"])
    expected = {"alice": ["agent"], "mark": ["manager"], "maria": ["manager"], "olga": ["auditor"]}
    assert roles_for_groups(sent, mapping) == expected.get(username, [])


def test_the_idp_healthcheck_passes_against_the_running_idp(compose_idp):
    port = urlsplit(compose_idp).port
    code = healthcheck_code("idp").replace("127.0.0.1:8001", f"127.0.0.1:{port}")
    assert run_healthcheck(code) == 0


# --- the Go stand-in -----------------------------------------------------------------------


@pytest.mark.broker
def test_the_stand_in_serves_the_apis_and_publishes_into_the_portals_queue(tmp_path):
    bus = Bus(settings.CELERY_BROKER_URL)
    port = free_port()
    args = replace_option(command("standin"), "--host", "127.0.0.1")
    args = replace_option(args, "--port", str(port))
    args = replace_option(args, "--seed-accounts", "3")
    args = replace_option(args, "--seed-payments", "5")
    args = replace_option(args, "--state", str(tmp_path / "standin-state.json"))
    environment = {
        **base_env(),
        **env("standin"),
        "EVENTS_BROKER_URL": bus.broker_url,
        "EVENTS_EXCHANGE": bus.exchange,
        "EVENTS_QUEUE": bus.queue,
    }
    # What the worker's intake declares before compose lets the stand-in start.
    with Connection(bus.broker_url) as conn:
        declare_topology(conn, conn.default_channel, bus.config())
    process = start(args, environment, tmp_path / "standin.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/_standin/health"), timeout=30, interval=0.2)
        # 3 accounts and 5 payments seeded, then live traffic at --rate.
        wait_until(lambda: bus.ready_messages() >= 8, timeout=30, interval=0.2)
        refund = f"{url}/v1/payments/00000000-0000-4000-8000-000000000000/refunds"
        body = {"amount_cents": 100, "currency": "EUR", "reason": "test", "reference": "r"}
        token = env("worker")["PAYMENTS_API_TOKEN"]
        answer = httpx.post(
            refund,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "compose-test"},
        )
        assert (answer.status_code, answer.json()["code"]) == (404, "payment_not_found")
        wrong = httpx.post(refund, json=body, headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        code = healthcheck_code("standin").replace("127.0.0.1:8100", f"127.0.0.1:{port}")
        assert run_healthcheck(code) == 0
    finally:
        stop(process)
        bus.delete()
    assert process.returncode in (0, -15), (tmp_path / "standin.log").read_text()
    # The volume's state file is written at exit: a second `up` takes the data back.
    saved = json.loads((tmp_path / "standin-state.json").read_text())
    assert len(saved["accounts"]) >= 3
    assert len(saved["payments"]) >= 5
    # The seed is history (the last 30 days), not a burst of payments made this second.
    assert any(p["created_at"][:10] < p["updated_at"][:10] for p in saved["payments"])


# --- the portal's healthchecks ---------------------------------------------------------------


def portal_env(**overrides: str) -> dict[str, str]:
    """compose's portal environment, pointed at this test run's database and broker."""
    return {
        **base_env(),
        **env("worker"),
        "DATABASE_URL": database_url_of_this_run(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        **overrides,
    }


def test_the_worker_is_healthy_only_while_its_health_file_says_ok(tmp_path):
    """The worker's check reads the file its intake keeps (apps.events.health), not the database."""
    test = services()["worker"]["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", "apps.events.health"]
    assert test[4] == env("worker")["EVENTS_HEALTH_FILE"]
    path = tmp_path / "intake.health"
    command = [sys.executable, "-m", "apps.events.health", str(path)]

    def healthy() -> int:
        return subprocess.run(command, cwd=ROOT, capture_output=True, check=False).returncode

    assert healthy() == 1  # no file yet: not healthy
    path.write_text("ok\n")
    assert healthy() == 0
    path.write_text("unhealthy: vm:7/0 paused: the database has been unavailable for 75s\n")
    assert healthy() == 1
    path.write_text("ok\n")
    stale = timezone.now().timestamp() - 90
    os.utime(path, (stale, stale))
    assert healthy() == 1


@pytest.mark.django_db(transaction=True)
def test_the_beat_healthcheck_reads_when_beat_last_sent_a_task():
    code = healthcheck_code("beat")
    assert run_healthcheck(code, portal_env()) == 1  # beat has sent nothing yet
    every_10s, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.SECONDS)
    sweep = PeriodicTask.objects.create(
        name="approvals-dispatch-due-calls",
        task="apps.approvals.tasks.dispatch_due_calls",
        interval=every_10s,
        last_run_at=timezone.now(),
    )
    assert run_healthcheck(code, portal_env()) == 0
    sweep.last_run_at = timezone.now() - timedelta(hours=1)
    sweep.save()
    assert run_healthcheck(code, portal_env()) == 1


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_the_web_healthcheck_passes_when_the_portal_is_ready(live_server):
    code = healthcheck_code("web").replace("http://127.0.0.1:8000", live_server.url)
    assert run_healthcheck(code) == 0
