"""The development IdP, run for real next to the portal's live server (fixtures for every package)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

from portal.settings.base import oidc_providers

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID = "operations-portal"
CLIENT_SECRET = "test-client-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def dev_idp(live_server, tmp_path_factory):
    """``python -m devtools.idp`` on a free port, its client allowed to return to the live server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        # Next to this run's test database, so two suites on one server keep apart.
        "DEVIDP_DATABASE_NAME": f"{connection.settings_dict['NAME']}_devidp",
        "DEVIDP_STATE_DIR": str(tmp_path_factory.mktemp("devidp")),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = open(tmp_path_factory.mktemp("devidp-log") / "idp.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.idp",
            "--port",
            str(port),
            "--portal-url",
            live_server.url,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/.well-known/openid-configuration", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the development IdP did not start; see {log.name}")
        time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def sso(settings, dev_idp):
    """Point the portal at the development IdP for this test."""
    settings.OIDC_SERVER_URL = dev_idp
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "Dev IdP"
    settings.SOCIALACCOUNT_PROVIDERS = oidc_providers(dev_idp, CLIENT_ID, CLIENT_SECRET, "Dev IdP")
    policy = {
        **settings.CONTENT_SECURITY_POLICY,
        "DIRECTIVES": dict(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]),
    }
    policy["DIRECTIVES"]["form-action"] = ["'self'", dev_idp]
    settings.CONTENT_SECURITY_POLICY = policy
    return dev_idp


def sign_in_through_idp(page, live_server, username: str, password: str = "portal-demo") -> None:  # noqa: S107 — the dev IdP demo password
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Sign in with Dev IdP").click()
    page.locator("input[name=login]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("form button[type=submit]").first.click()
