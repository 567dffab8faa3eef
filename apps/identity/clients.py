"""Calls to the IdP during a session: userinfo and the refresh-token grant.

The role re-check (``services.recheck_roles``) asks the IdP whether the
person still has access and which groups they hold. The answers are sorted
into three outcomes: the claims; :class:`IdpRefused` (the token was revoked,
the person disabled or logged out: the portal session must end); or
:class:`IdpUnavailable` (the IdP could not answer: nothing is decided).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class IdpRefused(Exception):
    """The IdP said no: the token is invalid or the person may no longer sign in."""


class IdpUnavailable(Exception):
    """The IdP did not give an answer (network, 5xx, 429, a malformed response)."""


@dataclass(frozen=True)
class RefreshedTokens:
    access_token: str
    access_token_expires_at: datetime | None
    refresh_token: str
    id_token: str


def fetch_userinfo(userinfo_endpoint: str, access_token: str) -> dict[str, Any]:
    response = _call("GET", userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"})
    if response.status_code in (400, 401, 403):
        raise IdpRefused(f"userinfo answered {response.status_code}")
    return _json_object(response, "userinfo")


def refresh_tokens(token_endpoint: str, refresh_token: str) -> RefreshedTokens:
    """The refresh-token grant, authenticated like the sign-in (``client_secret_basic``)."""
    response = _call(
        "POST",
        token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET),
    )
    if response.status_code in (400, 401, 403):
        # RFC 6749 §5.2: invalid_grant (revoked, expired, the person disabled) and friends.
        try:
            code = response.json().get("error", "")
        except ValueError:
            code = ""
        raise IdpRefused(f"refresh token refused ({response.status_code} {code})".strip())
    body = _json_object(response, "token endpoint")
    if not isinstance(body.get("access_token"), str):
        raise IdpUnavailable("token endpoint answered without an access_token")
    expires_in = body.get("expires_in")
    return RefreshedTokens(
        access_token=body["access_token"],
        access_token_expires_at=(
            timezone.now() + timedelta(seconds=int(expires_in))
            if isinstance(expires_in, int | float)
            else None
        ),
        # The IdP may rotate the refresh token (then the old one is dead) or keep it.
        refresh_token=body.get("refresh_token") or refresh_token,
        id_token=body.get("id_token") or "",
    )


def _call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = httpx.request(method, url, timeout=TIMEOUT, **kwargs)
    except httpx.HTTPError as error:
        raise IdpUnavailable(f"{method} {url}: {error.__class__.__name__}: {error}") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise IdpUnavailable(f"{method} {url} answered {response.status_code}")
    return response


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise IdpUnavailable(f"{what} answered {response.status_code}")
    try:
        body = response.json()
    except ValueError as error:
        raise IdpUnavailable(f"{what} answered something that is not JSON") from error
    if not isinstance(body, dict):
        raise IdpUnavailable(f"{what} answered JSON that is not an object")
    return body
