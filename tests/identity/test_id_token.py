"""The ID token is checked in full at the callback: signature, algorithm, audience, nonce."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import RequestFactory

from apps.audit.models import AuditEntry
from apps.identity.models import User
from apps.identity.oidc import VerifiedIdTokenAdapter
from tests.dev_idp import CLIENT_ID, authorization_code, mint_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def adapter(sso):
    adapter = VerifiedIdTokenAdapter(RequestFactory().get("/"), "sso")
    return adapter, adapter.get_provider().app


def claims(issuer: str, **extra) -> dict:
    now = int(time.time())
    return {"iss": issuer, "aud": CLIENT_ID, "sub": "1", "iat": now, "exp": now + 300, **extra}


def idp_kid(adapter) -> str:
    keys = httpx.get(adapter.openid_config["jwks_uri"]).json()["keys"]
    return keys[0]["kid"]


def test_a_token_signed_with_another_key_is_refused_even_from_the_token_endpoint(adapter):
    adapter, app = adapter
    adapter.did_fetch_access_token = True  # where allauth itself would skip the signature
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        claims(adapter.openid_config["issuer"]),
        forger,
        algorithm="RS256",
        headers={"kid": idp_kid(adapter)},
    )
    with pytest.raises(OAuth2Error):
        adapter._decode_id_token(app, forged)


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_shared_secret_and_unsigned_tokens_are_refused(adapter, algorithm):
    adapter, app = adapter
    token = jwt.encode(
        claims(adapter.openid_config["issuer"]),
        "development-client-secret" if algorithm == "HS256" else None,
        algorithm=algorithm,
        headers={"kid": idp_kid(adapter)},
    )
    with pytest.raises(OAuth2Error, match="signed with"):
        adapter._decode_id_token(app, token)


def test_several_audiences_need_azp_naming_the_portal(adapter, monkeypatch):
    adapter, app = adapter
    adapter.expected_nonce = "n"
    issuer = adapter.openid_config["issuer"]
    # The signature check is stood in for: only the audience rule is under test here.
    token = jwt.encode(claims(issuer), rsa.generate_private_key(65537, 2048), algorithm="RS256")
    decoded = claims(issuer, aud=[CLIENT_ID, "another-client"], nonce="n")
    monkeypatch.setattr("apps.identity.oidc.decode_idp_jwt", lambda *_a, **_k: dict(decoded))
    with pytest.raises(OAuth2Error, match="azp"):
        adapter._decode_id_token(app, token)
    decoded["azp"] = CLIENT_ID
    assert adapter._decode_id_token(app, token)["azp"] == CLIENT_ID


def callback_url(live_server) -> str:
    return live_server.url + "/accounts/oidc/sso/login/callback/"


def test_an_id_token_minted_for_another_sign_in_is_refused(adapter, live_server):
    adapter, app = adapter
    minted = mint_tokens(callback_url(live_server), "alice", nonce="nonce-of-sign-in-a")
    adapter.expected_nonce = "nonce-of-sign-in-b"
    with pytest.raises(OAuth2Error, match="another sign-in"):
        adapter._decode_id_token(app, minted["id_token"])
    adapter.expected_nonce = "nonce-of-sign-in-a"  # the same token, in its own sign-in
    assert adapter._decode_id_token(app, minted["id_token"])["nonce"] == "nonce-of-sign-in-a"


def test_an_id_token_without_a_nonce_is_refused(adapter, live_server):
    adapter, app = adapter
    minted = mint_tokens(callback_url(live_server), "alice")
    adapter.expected_nonce = "nonce-of-this-sign-in"
    with pytest.raises(OAuth2Error, match="without the nonce"):
        adapter._decode_id_token(app, minted["id_token"])


def test_the_sign_in_request_carries_a_nonce_kept_with_the_state(client, sso, live_server):
    host = live_server.url.split("//")[1]
    first = client.post("/accounts/oidc/sso/login/?process=login", HTTP_HOST=host)
    second = client.post("/accounts/oidc/sso/login/?process=login", HTTP_HOST=host)
    nonces = [parse_qs(urlsplit(r["Location"]).query)["nonce"][0] for r in (first, second)]
    assert len(set(nonces)) == 2
    assert all(len(n) >= 32 for n in nonces)
    stashed = client.session["socialaccount_states"]
    for response, nonce in zip((first, second), nonces, strict=True):
        state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
        assert stashed[state][0]["nonce"] == nonce


@pytest.mark.parametrize("nonce", ["nonce-of-another-sign-in", None])
def test_a_callback_whose_id_token_has_a_wrong_or_no_nonce_signs_nobody_in(
    client, sso, live_server, nonce
):
    """The code is genuine (PKCE is not what stops it here): only the nonce refuses it."""
    host = live_server.url.split("//")[1]
    session = client.session
    session["socialaccount_states"] = {
        "state-of-this-sign-in": (
            {"process": "login", "data": None, "nonce": "nonce-of-this-sign-in"},
            time.time(),
            "sso",
        )
    }
    session.save()
    code = authorization_code(callback_url(live_server), "alice", nonce=nonce)
    response = client.get(
        "/accounts/oidc/sso/login/callback/",
        {"code": code, "state": "state-of-this-sign-in"},
        HTTP_HOST=host,
    )
    assert response.status_code == 401  # allauth's "sign-in failed" page
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(email="alice@example.com").exists()
    failed = AuditEntry.objects.filter(action="identity.sign_in_failed").latest("id")
    assert "nonce" in failed.reason
