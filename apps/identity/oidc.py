"""The OpenID Connect flow as the portal runs it: nonce, the ID token checked in full.

allauth's generic provider skips the ID token's signature when the token
came straight from the token endpoint (OpenID Connect Core allows that over
TLS), and (65.21.1) neither sends nor checks a ``nonce``. The portal answers
the login and callback URLs itself:

- every authorization request carries a fresh ``nonce``, stashed with
  allauth's ``state`` in the session; the ID token must carry that nonce, or
  nobody is signed in (a token minted for another sign-in is refused);
- the ID token's signature is checked always, against the IdP's published
  keys, with an algorithm the IdP advertises (never ``none`` or a
  shared-secret HMAC); ``azp`` must be the portal when the token names
  several audiences;
- a silent re-sign-in (``prompt=none``, started by the role re-check) that the
  IdP answers with ``login_required`` sends the person to the sign-in page.

:func:`decode_idp_jwt` is shared with the back-channel logout token check.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import jwt
from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.internal import jwtkit, statekit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base.utils import respond_to_login_on_get
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from apps.identity.access import public

ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
PROVIDER_ID = "sso"
# What an IdP answers a prompt=none request when it would have to show a page.
SILENT_SIGN_IN_REFUSALS = {
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
}


def decode_idp_jwt(
    openid_config: dict[str, Any],
    token: str,
    *,
    audience: str,
    require: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Verify a JWT the IdP signed: keys from ``jwks_uri``, an advertised asymmetric alg, iss, aud."""
    advertised = set(openid_config.get("id_token_signing_alg_values_supported") or [])
    allowed = (advertised & ASYMMETRIC) or {"RS256"}
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise OAuth2Error("not a JWT") from error
    algorithm = header.get("alg")
    if algorithm not in allowed:
        raise OAuth2Error(f"signed with {algorithm!r}, not one of {sorted(allowed)}")
    if "kid" not in header:
        raise OAuth2Error("no key id (kid) in the JWT header")
    try:
        _alg, key = jwtkit.fetch_key(token, openid_config["jwks_uri"], jwtkit.lookup_kid_jwk)
        return jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            issuer=openid_config["issuer"],
            audience=audience,
            options={"require": ["iss", "aud", *require]},
        )
    except jwt.PyJWTError as error:
        raise OAuth2Error(f"invalid token: {error}") from error


class VerifiedIdTokenAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's adapter with the ID token required, verified in full and bound to the nonce."""

    expected_nonce: str | None = None

    def complete_login(self, request: HttpRequest, app: SocialApp, token: Any, **kwargs: Any):
        if not kwargs["response"].get("id_token"):
            raise OAuth2Error("the IdP sent no ID token")
        return super().complete_login(request, app, token, **kwargs)

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        try:
            data = decode_idp_jwt(
                self.openid_config, id_token, audience=app.client_id, require=("exp", "sub")
            )
        except OAuth2Error as error:
            raise OAuth2Error(f"id_token {error}") from error
        audiences = data["aud"] if isinstance(data["aud"], list) else [data["aud"]]
        if len(audiences) > 1 and data.get("azp") != app.client_id:
            raise OAuth2Error("id_token for several audiences without azp naming the portal")
        nonce = data.get("nonce")
        if not self.expected_nonce or not isinstance(nonce, str):
            raise OAuth2Error("id_token without the nonce of this sign-in")
        if not hmac.compare_digest(nonce.encode(), self.expected_nonce.encode()):
            raise OAuth2Error("id_token nonce is not this sign-in's (minted for another sign-in)")
        jwtkit.verify_jti(data)  # last: a refused token does not use up its jti
        return data


class NonceCheckingCallbackView(OAuth2CallbackView):
    """Hands the nonce stashed with the state to the adapter that decodes the ID token."""

    def _get_state(self, request: HttpRequest, provider: Any):
        state, response = super()._get_state(request, provider)
        self.adapter.expected_nonce = (state or {}).get("nonce")
        return state, response


def silent_sign_in(request: HttpRequest, *, next_url: str) -> HttpResponse:
    """Send the browser to the IdP with ``prompt=none``: back at once if its session lives."""
    provider = get_social_adapter().get_provider(request, PROVIDER_ID)
    return _redirect(
        request,
        provider,
        process="login",
        next_url=next_url,
        auth_params=provider.get_auth_params(),
        silent=True,
    )


def _redirect(
    request: HttpRequest, provider: Any, *, auth_params: dict, silent: bool = False, **kwargs
) -> HttpResponse:
    nonce = secrets.token_urlsafe(32)
    if silent:
        auth_params = {**auth_params, "prompt": "none"}
        kwargs["silent"] = True
    return provider.redirect(
        request, auth_params={**auth_params, "nonce": nonce}, nonce=nonce, **kwargs
    )


@public
@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    """allauth's login view, with a nonce added to the request and to the stashed state."""
    try:
        provider = get_social_adapter().get_provider(request, provider_id)
    except SocialApp.DoesNotExist:
        raise Http404 from None
    response = respond_to_login_on_get(request, provider)
    if response:
        return response
    kwargs = provider.get_redirect_from_request_kwargs(request)
    return _redirect(request, provider, **kwargs)


@public
@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    refused = _silent_sign_in_refused(request)
    if refused:
        return refused
    try:
        adapter = VerifiedIdTokenAdapter(request, provider_id)
        return NonceCheckingCallbackView.adapter_view(adapter)(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


def _silent_sign_in_refused(request: HttpRequest) -> HttpResponse | None:
    """A prompt=none request the IdP could not answer silently: the person signs in again."""
    from apps.identity import services

    error = request.GET.get("error", "")
    state_id = request.GET.get("state", "")
    if error not in SILENT_SIGN_IN_REFUSALS or not state_id:
        return None
    stashed = statekit.get_states(request).get(state_id)
    if not stashed or len(stashed) != 3 or not stashed[0].get("silent"):
        return None
    state = statekit.unstash_state(request, state_id=state_id, provider_id=stashed[2]) or {}
    services.record_sign_in_failed(
        request=request, error=f"silent re-sign-in (prompt=none) refused by the IdP: {error}"
    )
    messages.info(
        request,
        f"Your session needs a new sign-in with {settings.OIDC_PROVIDER_NAME}.",
    )
    return redirect_to_login(state.get("next") or "/", settings.LOGIN_URL)
