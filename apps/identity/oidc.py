"""The OpenID Connect callback, with the ID token checked in full.

allauth's generic provider skips the ID token's signature when the token
came straight from the token endpoint (OpenID Connect Core allows that over
TLS). The portal checks it always, against the IdP's published keys, with an
algorithm the IdP advertises (never ``none`` or a shared-secret HMAC), and
requires ``azp`` to be the portal when the token names several audiences: a
TLS-terminating proxy or a misrouted token endpoint must not be enough to
sign someone in.
"""

from __future__ import annotations

import jwt
from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404, HttpRequest, HttpResponse

from apps.identity.access import public

ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}


class VerifiedIdTokenAdapter(OpenIDConnectOAuth2Adapter):
    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        advertised = set(self.openid_config.get("id_token_signing_alg_values_supported") or [])
        allowed = (advertised & ASYMMETRIC) or {"RS256"}
        try:
            algorithm = jwt.get_unverified_header(id_token).get("alg")
        except jwt.PyJWTError as error:
            raise OAuth2Error("Invalid id_token") from error
        if algorithm not in allowed:
            raise OAuth2Error(f"id_token signed with {algorithm!r}, not one of {sorted(allowed)}")
        data = jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )
        audiences = data["aud"] if isinstance(data["aud"], list) else [data["aud"]]
        if len(audiences) > 1 and data.get("azp") != app.client_id:
            raise OAuth2Error("id_token for several audiences without azp naming the portal")
        return data


@public
@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = OAuth2CallbackView.adapter_view(VerifiedIdTokenAdapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None
