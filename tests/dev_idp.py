"""The development IdP, run for real next to the portal's live server (fixtures for every package)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connection

from portal.settings.base import oidc_providers

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID = "operations-portal"
CLIENT_SECRET = "test-client-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The development IdP of this test run: its environment and the signing key it publishes.
IDP_RUN: dict[str, object] = {}


@pytest.fixture(scope="session")
def dev_idp(live_server, tmp_path_factory):
    """``python -m devtools.idp`` on a free port, its client allowed to return to the live server.

    The test run makes the IdP's signing key itself (``DEVIDP_PRIVATE_KEY_FILE``), so
    tests can sign tokens (back-channel logout tokens) with the key the IdP publishes
    as its JWKS: :func:`sign_as_idp`.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state_dir = tmp_path_factory.mktemp("devidp")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = state_dir / "test-signing-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {
        **os.environ,
        # Next to this run's test database, so two suites on one server keep apart.
        "DEVIDP_DATABASE_NAME": f"{connection.settings_dict['NAME']}_devidp",
        "DEVIDP_STATE_DIR": str(state_dir),
        "DEVIDP_PRIVATE_KEY_FILE": str(key_file),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    IDP_RUN.update(url=url, env=env, key=key)
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


def use_dev_idp(settings, dev_idp: str, client_id: str = CLIENT_ID, scopes: str = "") -> None:
    """Configure the portal for the development IdP, as its variables would."""
    settings.OIDC_SERVER_URL = dev_idp
    settings.OIDC_CLIENT_ID = client_id
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "Dev IdP"
    settings.OIDC_SCOPES = (scopes or "openid email profile").split()
    settings.SOCIALACCOUNT_PROVIDERS = oidc_providers(
        dev_idp, client_id, CLIENT_SECRET, "Dev IdP", settings.OIDC_SCOPES
    )


@pytest.fixture
def sso(settings, dev_idp):
    """Point the portal at the development IdP for this test."""
    use_dev_idp(settings, dev_idp)
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


def idp_admin(*args: str) -> str:
    """Run a management command of the development IdP (``devidp_user alice --groups …``)."""
    command = "import django; django.setup(); from django.core.management import call_command; "
    command += f"call_command(*{list(args)!r})"
    result = subprocess.run(
        [sys.executable, "-c", command],
        cwd=ROOT,
        env={**IDP_RUN["env"], "DJANGO_SETTINGS_MODULE": "devtools.idp.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def sign_as_idp(claims: dict, key=None) -> str:
    """A JWT signed with the key the development IdP publishes (its ``kid``), or with ``key``."""
    issuer = str(IDP_RUN["url"])
    config = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    kid = httpx.get(config["jwks_uri"]).json()["keys"][0]["kid"]
    return jwt.encode(claims, key or IDP_RUN["key"], algorithm="RS256", headers={"kid": kid})


def logout_token(sub: str = "", sid: str = "", **overrides) -> dict:
    """The claims of a valid back-channel logout token from the development IdP for the portal."""
    now = int(time.time())
    claims = {
        "iss": str(IDP_RUN["url"]),
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    if sub:
        claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


@contextlib.contextmanager
def idp_browser(username: str, password: str = "portal-demo") -> Iterator[httpx.Client]:  # noqa: S107
    """An httpx client signed in at the development IdP as ``username``."""
    issuer = str(IDP_RUN["url"])
    with httpx.Client(base_url=issuer, follow_redirects=False, timeout=10) as browser:
        browser.get("/accounts/login/")
        csrf = browser.cookies["devidp_csrftoken"]
        signed_in = browser.post(
            "/accounts/login/",
            data={"login": username, "password": password, "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{issuer}/accounts/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        yield browser


def authorization_code(
    redirect_uri: str,
    username: str,
    *,
    nonce: str | None = None,
    scope: str = "openid email profile",
) -> str:
    """A code the development IdP issued for ``username`` (no PKCE), for ``redirect_uri``."""
    issuer = str(IDP_RUN["url"])
    config = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": uuid.uuid4().hex,
    }
    if nonce is not None:
        params["nonce"] = nonce
    with idp_browser(username) as browser:
        authorized = browser.get(config["authorization_endpoint"], params=params)
    location = authorized.headers.get("location", "")
    code = parse_qs(urlsplit(location).query).get("code", [""])[0]
    assert code, f"no code from the IdP: {authorized.status_code} {location}"
    return code


def mint_tokens(redirect_uri: str, username: str, **kwargs) -> dict:
    """The development IdP's token response for a sign-in of ``username`` (code flow, httpx)."""
    issuer = str(IDP_RUN["url"])
    config = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    code = authorization_code(redirect_uri, username, **kwargs)
    tokens = httpx.post(
        config["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    tokens.raise_for_status()
    return tokens.json()


def sign_in_with_client(client, live_server, username: str) -> object:
    """The portal's whole sign-in flow for ``username`` with Django's test client and httpx.

    The portal's own views answer (login, callback) as for a browser at the live
    server's address, so the redirect URI is the registered one; the IdP is real.
    Returns the callback's response.
    """
    host = urlsplit(live_server.url).netloc
    start = client.post("/accounts/oidc/sso/login/?process=login&next=/", HTTP_HOST=host)
    assert start.status_code == 302, start.content[:500]
    with idp_browser(username) as browser:
        authorized = browser.get(start["Location"])
    callback = urlsplit(authorized.headers["location"])
    assert callback.path == "/accounts/oidc/sso/login/callback/", authorized.headers["location"]
    return client.get(f"{callback.path}?{callback.query}", HTTP_HOST=host)
