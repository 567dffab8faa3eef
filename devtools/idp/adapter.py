"""The groups claim, and no sign-up: the demo users are seeded."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.idp.oidc.adapter import DefaultOIDCAdapter


class ClosedSignupAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False


class DevIdpAdapter(DefaultOIDCAdapter):
    def get_claims(
        self, purpose, user, client, scopes, email=None, **kwargs: Any
    ) -> dict[str, Any]:
        claims = super().get_claims(purpose, user, client, scopes, email=email, **kwargs)
        claims["groups"] = sorted(user.groups.values_list("name", flat=True))
        if user.email:
            claims.setdefault("email", user.email)
            claims.setdefault("email_verified", True)
        return claims
