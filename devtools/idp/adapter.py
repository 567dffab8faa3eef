"""The groups claim, released the way a real IdP would; and no sign-up: the demo users are seeded.

The portal's client (``operations-portal``) gets groups always, in the ID
token and from userinfo, like a Keycloak *Group Membership* mapper. Two more
clients imitate other products, so the portal's configuration can be tried
against each (``seed_devidp`` creates them):

- ``<client>-okta-style``: groups only when the ``groups`` scope is asked for
  (Okta's org authorization server);
- ``<client>-authentik-style``: groups with the ``profile`` scope (authentik's
  default profile mapping);
- ``<client>-entra-style``: groups in the ID token only, never from userinfo
  (Microsoft Entra ID).
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.idp.oidc.adapter import DefaultOIDCAdapter

OKTA_STYLE = "-okta-style"
AUTHENTIK_STYLE = "-authentik-style"
ENTRA_STYLE = "-entra-style"
STYLES = (OKTA_STYLE, AUTHENTIK_STYLE, ENTRA_STYLE)


class ClosedSignupAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False


def releases_groups(client_id: str, scopes: list[str] | tuple[str, ...], purpose: str) -> bool:
    if client_id.endswith(ENTRA_STYLE):
        return purpose == "id_token"
    if client_id.endswith(OKTA_STYLE):
        return "groups" in scopes
    if client_id.endswith(AUTHENTIK_STYLE):
        return "profile" in scopes
    return True


class DevIdpAdapter(DefaultOIDCAdapter):
    def get_claims(
        self, purpose, user, client, scopes, email=None, **kwargs: Any
    ) -> dict[str, Any]:
        claims = super().get_claims(purpose, user, client, scopes, email=email, **kwargs)
        if releases_groups(client.id, list(scopes), purpose):
            claims["groups"] = sorted(user.groups.values_list("name", flat=True))
        if user.email:
            claims.setdefault("email", user.email)
            claims.setdefault("email_verified", True)
        return claims
