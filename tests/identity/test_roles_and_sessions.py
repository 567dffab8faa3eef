"""Roles follow the IdP's groups at every sign-in; sessions end when idle or too old."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apps.identity import selectors, services
from apps.identity.middleware import LAST_SEEN_KEY
from apps.identity.role_mapping import groups_from_claims, parse_role_groups, roles_for_groups
from tests.factories import UserFactory


def test_groups_map_to_roles_and_a_person_may_hold_several():
    mapping = parse_role_groups(
        "support=agent, payments-managers=manager,audit=auditor,leads=manager"
    )
    assert roles_for_groups(["support", "leads", "unrelated"], mapping) == ["agent", "manager"]
    assert roles_for_groups(["unrelated"], mapping) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("support=admin", "unknown role 'admin'"),
        ("support", "not of the form group=role"),
        ("a=agent,a=manager", "mapped twice"),
    ],
)
def test_a_bad_mapping_is_a_clear_configuration_error(text, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_role_groups(text)


@pytest.mark.parametrize(
    ("claims", "groups"),
    [
        ([{"groups": ["agent", "staff"]}], ["agent", "staff"]),
        ([{"groups": "agent staff"}, {"groups": ["auditor"]}], ["agent", "auditor", "staff"]),
        ([{"groups": "agent,manager"}], ["agent", "manager"]),
        ([None, {}], []),
    ],
)
def test_groups_are_read_from_the_id_token_and_userinfo(settings, claims, groups):
    settings.OIDC_GROUPS_CLAIM = "groups"
    assert groups_from_claims(claims) == groups


def test_the_groups_claim_name_is_configurable(settings):
    settings.OIDC_GROUPS_CLAIM = "roles"
    assert groups_from_claims([{"roles": ["agent"], "groups": ["manager"]}]) == ["agent"]


@pytest.mark.django_db
def test_a_group_removed_at_the_idp_removes_the_role_at_the_next_sign_in(settings):
    settings.PORTAL_ROLE_GROUPS = "support=agent,managers=manager"
    user = UserFactory(roles=["agent", "manager"])
    assert services.sync_roles(user=user, groups=["support"]) is True
    user.refresh_from_db()
    assert user.roles == ["agent"]
    assert user.idp_groups == ["support"]
    assert services.sync_roles(user=user, groups=["support"]) is False
    services.sync_roles(user=user, groups=[])
    user.refresh_from_db()
    assert user.roles == []


@pytest.mark.django_db
def test_an_idle_session_ends(settings, agent_client):
    settings.PORTAL_SESSION_IDLE_MINUTES = 30
    assert agent_client.get("/").status_code == 200
    session = agent_client.session
    session[LAST_SEEN_KEY] = (timezone.now() - timedelta(minutes=31)).isoformat()
    session.save()
    response = agent_client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_session_older_than_its_lifetime_ends(settings, agent_client):
    settings.PORTAL_SESSION_MAX_HOURS = 12
    session = agent_client.session
    session[services.AUTH_TIME_KEY] = (timezone.now() - timedelta(hours=13)).isoformat()
    session.save()
    assert agent_client.get("/")["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_recent_sign_in_is_measured_from_the_last_idp_sign_in(rf, agent_client):
    request = rf.get("/")
    request.session = agent_client.session
    assert selectors.recent_sign_in(request, 900) is True  # the sign-in itself set it
    request.session[services.AUTH_TIME_KEY] = (timezone.now() - timedelta(minutes=20)).isoformat()
    assert selectors.recent_sign_in(request, 900) is False
    request.session[services.AUTH_TIME_KEY] = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert selectors.recent_sign_in(request, 900) is True
    assert selectors.recent_sign_in(request, 60) is False


@pytest.mark.django_db
def test_step_up_counts_from_when_the_person_authenticated_at_the_idp(rf, agent_client, agent):
    """An IdP that answers a re-sign-in from an older session reports that session's auth_time."""
    request = rf.get("/")
    request.session = agent_client.session
    earlier = timezone.now() - timedelta(minutes=40)
    services.note_idp_auth_time(request, earlier.timestamp())
    services.record_sign_in(request=request, user=agent)
    assert abs(selectors.authenticated_at(request) - earlier) < timedelta(seconds=1)
    assert selectors.recent_sign_in(request, 900) is False
    services.note_idp_auth_time(request, "not a time")  # ignored: the sign-in moment counts
    services.record_sign_in(request=request, user=agent)
    assert selectors.recent_sign_in(request, 900) is True


@pytest.mark.django_db
def test_the_sign_in_page_offers_only_single_sign_on(client, settings):
    from portal.settings.base import oidc_providers

    settings.SOCIALACCOUNT_PROVIDERS = oidc_providers(
        "https://idp.example.com", "portal", "s", "Acme SSO"
    )
    settings.OIDC_PROVIDER_NAME = "Acme SSO"
    page = client.get("/accounts/login/?next=/payments/").content.decode()
    assert "Sign in with Acme SSO" in page
    assert 'action="/accounts/oidc/sso/login/?process=login&amp;next=%2Fpayments%2F"' in page
    assert 'type="password"' not in page
    assert client.post("/accounts/login/").status_code == 405
    assert client.get("/accounts/signup/").status_code == 404
    assert client.get("/accounts/password/reset/").status_code == 404


def test_pkce_is_on_for_the_sso_provider():
    from portal.settings.base import oidc_providers

    app = oidc_providers("https://idp.example.com", "portal", "s", "X")["openid_connect"]["APPS"][0]
    assert app["provider_id"] == "sso"
    assert app["settings"]["oauth_pkce_enabled"] is True


@pytest.mark.django_db
def test_an_id_token_from_another_issuer_is_refused(rf, settings):
    from types import SimpleNamespace

    from allauth.core.exceptions import ImmediateHttpResponse

    from apps.identity.adapters import PortalSocialAccountAdapter

    settings.OIDC_SERVER_URL = "https://idp.example.com"
    user = UserFactory(roles=["agent"])
    login = SimpleNamespace(
        user=user,
        account=SimpleNamespace(
            extra_data={"id_token": {"iss": "https://evil.example.com", "groups": ["manager"]}}
        ),
    )
    request = rf.get("/accounts/oidc/sso/login/callback/")
    request.user = user
    with pytest.raises(ImmediateHttpResponse) as refused:
        PortalSocialAccountAdapter(request).pre_social_login(request, login)
    assert refused.value.response.status_code == 403
    user.refresh_from_db()
    assert user.roles == ["agent"], "roles must not change on a refused sign-in"

    login.account.extra_data["id_token"]["iss"] = "https://idp.example.com/"
    PortalSocialAccountAdapter(request).pre_social_login(request, login)
    user.refresh_from_db()
    assert user.roles == ["manager"]  # a matching issuer: the groups claim decides the roles
