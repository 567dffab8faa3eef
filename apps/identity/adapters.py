"""allauth adapters: the only place that touches the sign-in flow.

No local accounts: the account adapter refuses local sign-up; the social
account adapter opens sign-up to the IdP only, and re-syncs roles from the
group claim at every sign-in.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render

from apps.identity import services
from apps.identity.role_mapping import groups_claim_present, groups_from_claims


class PortalAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # local sign-up never; accounts come from the IdP


class PortalSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return True

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        """Called for every sign-in, new or returning: roles follow the IdP's groups."""
        extra = sociallogin.account.extra_data or {}
        issuer = (extra.get("id_token") or {}).get("iss", "")
        # allauth checks `iss` against the discovery document; this ties it to the configured issuer.
        if issuer.rstrip("/") != settings.OIDC_SERVER_URL.rstrip("/"):
            services.record_sign_in_failed(
                request=request, error=f"ID token issuer {issuer!r} is not OIDC_SERVER_URL"
            )
            raise ImmediateHttpResponse(
                render(request, "identity/sign_in_failed.html", {"issuer": issuer}, status=403)
            )
        id_token = extra.get("id_token") or {}
        claims = [id_token, extra.get("userinfo"), extra]
        groups = groups_from_claims(claims)
        services.sync_roles(user=sociallogin.user, groups=groups, request=request)
        # The session is tracked once it exists (services.record_sign_in): the IdP's sub and
        # sid for back-channel logout, the tokens for the role re-check.
        token = getattr(sociallogin, "token", None)
        services.note_idp_sign_in(
            request,
            services.IdpSignIn(
                subject=str(id_token.get("sub") or getattr(sociallogin.account, "uid", "") or ""),
                session_id=str(id_token.get("sid") or ""),
                access_token=getattr(token, "token", "") or "",
                access_token_expires_at=getattr(token, "expires_at", None),
                refresh_token=getattr(token, "token_secret", "") or "",
                groups_claim_present=groups_claim_present(claims),
            ),
        )
        # When the person really authenticated at the IdP (OIDC auth_time): step-up trusts
        # this, not the moment the portal got the token, so a re-sign-in the IdP answered
        # from an older session does not count as fresh.
        services.note_idp_auth_time(request, (extra.get("id_token") or {}).get("auth_time"))

    def populate_user(self, request: HttpRequest, sociallogin: Any, data: dict) -> Any:
        user = super().populate_user(request, sociallogin, data)
        if not user.email and data.get("email"):
            user.email = data["email"]
        return user

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ) -> None:
        services.record_sign_in_failed(
            request=request, error=f"{error or 'error'}: {exception or ''}".strip(": ")
        )
