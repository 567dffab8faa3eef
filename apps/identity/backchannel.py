"""The logout token of OpenID Connect Back-Channel Logout 1.0, checked in full (§2.6).

A logout token is a JWT the IdP signs and posts to the portal when a person
logs out at the IdP (or is logged out by an administrator). It must be
signed with one of the IdP's published keys (an advertised asymmetric
algorithm), name the IdP as ``iss`` and the portal as ``aud``, carry ``iat``
(not older than :data:`MAX_AGE`), a ``jti``, the back-channel logout event,
``sub`` and/or ``sid``, and never a ``nonce`` (so an ID token cannot pass for
one). Whether the ``jti`` was seen before is the service's check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.conf import settings
from django.http import HttpRequest
from requests import RequestException

from apps.identity.oidc import PROVIDER_ID, decode_idp_jwt

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_AGE_SECONDS = 10 * 60  # a token issued longer ago is refused, exp or not
CLOCK_SKEW_SECONDS = 60


class LogoutTokenInvalid(Exception):
    """The logout token fails a check of the specification; nothing is ended."""


@dataclass(frozen=True)
class LogoutToken:
    issuer: str
    jti: str
    subject: str
    session_id: str


def verify_logout_token(request: HttpRequest, token: str) -> LogoutToken:
    if not settings.SOCIALACCOUNT_PROVIDERS:
        raise LogoutTokenInvalid("single sign-on is not configured")
    try:
        config = OpenIDConnectOAuth2Adapter(request, PROVIDER_ID).openid_config
    except (RequestException, ValueError) as error:
        raise LogoutTokenInvalid(
            f"the IdP's discovery document could not be read: {error}"
        ) from error
    try:
        claims = decode_idp_jwt(
            config, token, audience=settings.OIDC_CLIENT_ID, require=("iat", "jti", "events")
        )
    except (OAuth2Error, RequestException) as error:
        raise LogoutTokenInvalid(f"logout token {error}") from error
    if str(claims["iss"]).rstrip("/") != settings.OIDC_SERVER_URL.rstrip("/"):
        raise LogoutTokenInvalid("logout token issuer is not OIDC_SERVER_URL")
    now = time.time()
    iat = claims["iat"]
    if not isinstance(iat, int | float) or iat > now + CLOCK_SKEW_SECONDS:
        raise LogoutTokenInvalid("logout token iat is in the future")
    if iat < now - MAX_AGE_SECONDS:
        raise LogoutTokenInvalid(f"logout token issued more than {MAX_AGE_SECONDS} s ago")
    events = claims["events"]
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise LogoutTokenInvalid("logout token without the back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenInvalid("logout token carries a nonce (an ID token is not a logout token)")
    subject, session_id = claims.get("sub") or "", claims.get("sid") or ""
    if not isinstance(subject, str) or not isinstance(session_id, str):
        raise LogoutTokenInvalid("logout token sub and sid must be strings")
    if not subject and not session_id:
        raise LogoutTokenInvalid("logout token names neither sub nor sid")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise LogoutTokenInvalid("logout token jti must be a string of 1 to 255 characters")
    return LogoutToken(issuer=claims["iss"], jti=jti, subject=subject, session_id=session_id)
