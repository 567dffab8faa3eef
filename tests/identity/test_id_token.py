"""The ID token is checked in full at the callback: signature, algorithm, audience."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import RequestFactory

from apps.identity.oidc import VerifiedIdTokenAdapter
from tests.dev_idp import CLIENT_ID

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
    issuer = adapter.openid_config["issuer"]
    # The signature check is stood in for: only the audience rule is under test here.
    token = jwt.encode(claims(issuer), rsa.generate_private_key(65537, 2048), algorithm="RS256")
    decoded = claims(issuer, aud=[CLIENT_ID, "another-client"])
    monkeypatch.setattr(
        "allauth.socialaccount.internal.jwtkit.verify_and_decode", lambda **_: dict(decoded)
    )
    with pytest.raises(OAuth2Error, match="azp"):
        adapter._decode_id_token(app, token)
    decoded["azp"] = CLIENT_ID
    assert adapter._decode_id_token(app, token)["azp"] == CLIENT_ID
