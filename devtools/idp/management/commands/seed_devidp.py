"""Create or update the portal's client and the demo users of the development IdP."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.idp.oidc.models import Client
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from devtools.idp.adapter import STYLES
from devtools.idp.demo_users import PASSWORD, USERS


class Command(BaseCommand):
    help = "Seed the development IdP: the portal's OIDC client and the demo users."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--client-id", default="operations-portal")
        parser.add_argument("--client-secret", default="development-client-secret")
        parser.add_argument(
            "--portal-url",
            action="append",
            required=True,
            help="base URL of a portal that may use this IdP (repeatable)",
        )

    def handle(
        self, *args, client_id: str, client_secret: str, portal_url: list[str], **options
    ) -> None:
        bases = [url.rstrip("/") for url in portal_url]
        # The portal's client, and others that release groups like other IdPs (adapter.py).
        for suffix in ("", *STYLES):
            label = f" ({suffix.strip('-')} groups)" if suffix else ""
            client, _ = Client.objects.get_or_create(
                id=client_id + suffix, defaults={"name": "Operations Portal" + label}
            )
            client.name = "Operations Portal" + label
            client.type = Client.Type.CONFIDENTIAL
            client.set_secret(client_secret)
            client.set_scopes(["openid", "profile", "email", "groups"])
            client.set_default_scopes(["openid", "profile", "email"])
            # Refresh tokens, so the portal's role re-check can renew its access token.
            client.set_grant_types(["authorization_code", "refresh_token"])
            client.set_redirect_uris(
                [f"{base}/accounts/oidc/sso/login/callback/" for base in bases]
            )
            client.set_post_logout_redirect_uris([f"{base}/accounts/signed-out/" for base in bases])
            client.skip_consent = True
            client.save()
        for username, first, last, groups, _purpose in USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@example.com"
            user.set_password(PASSWORD)
            user.save()
            user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])
            EmailAddress.objects.update_or_create(
                user=user, email=user.email, defaults={"verified": True, "primary": True}
            )
        self.stdout.write(f"client {client_id} for {', '.join(bases)}; {len(USERS)} users")
