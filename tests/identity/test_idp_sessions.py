"""Access ends when the IdP says so: back-channel logout, the role re-check, the kill switch.

Against the development IdP (a real OpenID Connect provider in its own
process): sign-ins go through the portal's own login and callback views with
real tokens; logout tokens are signed with the key the IdP publishes as its
JWKS (the test run made that key), or with another key where a test says so.
"""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.identity import services
from apps.identity.models import PortalSession, User
from apps.identity.role_mapping import groups_claim_present
from tests.dev_idp import (
    CLIENT_ID,
    idp_admin,
    logout_token,
    sign_as_idp,
    sign_in_with_client,
    use_dev_idp,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BACKCHANNEL = "/oidc/backchannel-logout/"


def signed_in(live_server, username: str) -> Client:
    client = Client()
    response = sign_in_with_client(client, live_server, username)
    assert response.status_code == 302, response.content[:800]
    assert "_auth_user_id" in client.session
    return client


def row_of(client: Client) -> PortalSession:
    return PortalSession.objects.get(session_key=client.session.session_key)


def still_signed_in(client: Client) -> bool:
    response = client.get("/")
    return response.status_code == 200


def post_logout_token(client: Client, token: str):
    return client.post(BACKCHANNEL, {"logout_token": token})


def backdate_recheck(client: Client, minutes: int = 11) -> None:
    """As if the last role check were ``minutes`` ago."""
    moment = timezone.now() - timedelta(minutes=minutes)
    session = client.session
    session[services.ROLES_CHECKED_KEY] = moment.isoformat()
    session.save()
    PortalSession.objects.filter(session_key=session.session_key).update(roles_checked_at=moment)


# --- Back-channel logout --------------------------------------------------------------------


def test_a_logout_token_for_a_person_ends_every_session_of_that_person(sso, live_server):
    alice_office, alice_laptop = signed_in(live_server, "alice"), signed_in(live_server, "alice")
    mark = signed_in(live_server, "mark")
    sub = row_of(alice_office).idp_subject
    assert sub
    assert row_of(alice_laptop).idp_subject == sub

    response = post_logout_token(Client(enforce_csrf_checks=True), sign_as_idp(logout_token(sub)))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert alice_office.get("/")["Location"].startswith("/accounts/login/")
    assert alice_laptop.get("/payments/")["Location"].startswith("/accounts/login/")
    assert still_signed_in(mark)
    entry = AuditEntry.objects.filter(action="identity.sessions_ended").latest("id")
    assert entry.params["sessions"] == 2
    assert entry.params["by"] == "back-channel logout"
    assert entry.params["sub"] == sub


def test_a_logout_token_with_only_a_sid_ends_only_that_idp_session(sso, live_server):
    first, second = signed_in(live_server, "alice"), signed_in(live_server, "alice")
    PortalSession.objects.filter(pk=row_of(first).pk).update(idp_session_id="idp-session-1")
    PortalSession.objects.filter(pk=row_of(second).pk).update(idp_session_id="idp-session-2")

    response = post_logout_token(Client(), sign_as_idp(logout_token(sid="idp-session-1")))

    assert response.status_code == 200
    assert not still_signed_in(first)
    assert still_signed_in(second)


def test_a_logout_token_with_sub_and_sid_spares_the_persons_other_idp_sessions(sso, live_server):
    this, other, untold = (signed_in(live_server, "alice") for _ in range(3))
    PortalSession.objects.filter(pk=row_of(this).pk).update(idp_session_id="idp-session-1")
    PortalSession.objects.filter(pk=row_of(other).pk).update(idp_session_id="idp-session-2")
    sub = row_of(this).idp_subject

    response = post_logout_token(Client(), sign_as_idp(logout_token(sub, sid="idp-session-1")))

    assert response.status_code == 200
    assert not still_signed_in(this)
    assert still_signed_in(other)
    assert not still_signed_in(untold)  # its sid unknown: it may be that IdP session


def _with_nonce(sub):
    return sign_as_idp(logout_token(sub, nonce="n"))


def _without_event(sub):
    return sign_as_idp(logout_token(sub, events={"http://example.com/other": {}}))


def _expired(sub):
    return sign_as_idp(logout_token(sub, iat=int(time.time()) - 300, exp=int(time.time()) - 60))


def _issued_long_ago(sub):
    return sign_as_idp(logout_token(sub, iat=int(time.time()) - 3600, exp=None))


def _another_key(sub):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return sign_as_idp(logout_token(sub), key=key)


def _hs256(sub):
    return jwt.encode(
        logout_token(sub), "test-client-secret", algorithm="HS256", headers={"kid": "x"}
    )


# flaw → (how the token is made from the person's sub, what the refusal says)
BAD_TOKENS = {
    "wrong aud": (
        lambda sub: sign_as_idp(logout_token(sub, aud="another-client")),
        "Audience doesn't match",
    ),
    "expired": (_expired, "expired"),
    "issued too long ago": (_issued_long_ago, "issued more than"),
    "wrong iss": (
        lambda sub: sign_as_idp(logout_token(sub, iss="https://evil.example.com")),
        "Invalid issuer",
    ),
    "a nonce (an ID token)": (_with_nonce, "carries a nonce"),
    "no back-channel event": (_without_event, "without the back-channel logout event"),
    "neither sub nor sid": (lambda sub: sign_as_idp(logout_token()), "neither sub nor sid"),
    "no jti": (lambda sub: sign_as_idp(logout_token(sub, jti=None)), '"jti"'),
    "another key": (_another_key, "Signature verification failed"),
    "HS256 with the client secret": (_hs256, "signed with 'HS256'"),
    "not a JWT": (lambda sub: "not-a-jwt", "not a JWT"),
}


@pytest.mark.parametrize("flaw", list(BAD_TOKENS))
def test_a_flawed_logout_token_changes_nothing(sso, live_server, flaw):
    alice = signed_in(live_server, "alice")
    make, refusal = BAD_TOKENS[flaw]

    response = post_logout_token(Client(), make(row_of(alice).idp_subject))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert refusal in response.json()["error_description"]
    assert still_signed_in(alice)
    assert not AuditEntry.objects.filter(action="identity.sessions_ended").exists()
    refused = AuditEntry.objects.filter(action="identity.backchannel_logout_refused").latest("id")
    assert refused.outcome == "rejected"
    assert refusal in refused.reason


def test_a_replayed_logout_token_changes_nothing(sso, live_server):
    first = signed_in(live_server, "alice")
    token = sign_as_idp(logout_token(row_of(first).idp_subject))
    assert post_logout_token(Client(), token).status_code == 200
    assert not still_signed_in(first)

    again = signed_in(live_server, "alice")  # alice signs in again; the old token comes back
    response = post_logout_token(Client(), token)

    assert response.status_code == 400
    assert "used before" in response.json()["error_description"]
    assert still_signed_in(again)


def test_the_backchannel_endpoint_takes_only_a_post_with_a_token(sso, client):
    assert client.get(BACKCHANNEL).status_code == 405
    assert client.post(BACKCHANNEL, {}).status_code == 400


# --- Roles re-checked during a session ------------------------------------------------------


@pytest.fixture
def restore_idp_users():
    """Tests here change demo users at the IdP; the rest of the run needs them as seeded."""
    yield
    idp_admin("devidp_user", "mark", "--groups", "manager", "--enable")
    idp_admin("devidp_user", "maria", "--groups", "manager", "--enable")


def test_a_manager_removed_from_the_group_loses_the_queue_at_the_next_recheck(
    sso, live_server, restore_idp_users
):
    mark = signed_in(live_server, "mark")
    assert mark.get("/requests/queue/").status_code == 200
    idp_admin("devidp_user", "mark", "--groups", "agent")

    # Within the interval nothing is asked: the roles of the sign-in hold.
    assert mark.get("/requests/queue/").status_code == 200

    backdate_recheck(mark)
    response = mark.get("/requests/queue/")

    assert response.status_code == 403
    assert "Approvals" not in [e["label"] for e in mark.get("/").context["nav_entries"]]
    assert User.objects.get(email="mark@example.com").roles == ["agent"]
    change = AuditEntry.objects.filter(action="identity.roles_changed").latest("id")
    assert change.params["old_roles"] == ["manager"]
    assert change.params["new_roles"] == ["agent"]
    assert change.params["source"] == "re-check"
    assert still_signed_in(mark)  # without signing out


def test_a_person_disabled_at_the_idp_is_signed_out_at_the_next_recheck(
    sso, live_server, restore_idp_users
):
    maria = signed_in(live_server, "maria")
    idp_admin("devidp_user", "maria", "--disable")
    backdate_recheck(maria)

    response = maria.get("/requests/queue/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not PortalSession.objects.filter(user__email="maria@example.com").exists()
    ended = AuditEntry.objects.filter(action="identity.sign_out").latest("id")
    assert "refused the role re-check" in ended.reason


def test_an_expired_access_token_is_renewed_with_the_refresh_token(
    sso, live_server, restore_idp_users
):
    mark = signed_in(live_server, "mark")
    before = row_of(mark)
    assert before.refresh_token
    PortalSession.objects.filter(pk=before.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    idp_admin("devidp_user", "mark", "--groups", "manager,auditor")
    backdate_recheck(mark)

    assert mark.get("/").status_code == 200

    after = row_of(mark)
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token  # the dev IdP rotates refresh tokens
    assert User.objects.get(email="mark@example.com").roles == ["auditor", "manager"]


def test_groups_only_in_the_id_token_are_re_read_from_a_refreshed_id_token(
    settings, dev_idp, live_server, restore_idp_users
):
    """Entra ID style: userinfo has no groups claim; the refresh's new ID token does."""
    use_dev_idp(settings, dev_idp, client_id=f"{CLIENT_ID}-entra-style")
    mark = signed_in(live_server, "mark")
    before = row_of(mark)
    idp_admin("devidp_user", "mark", "--groups", "agent")
    backdate_recheck(mark)

    assert mark.get("/requests/queue/").status_code == 403

    assert row_of(mark).refresh_token != before.refresh_token
    assert User.objects.get(email="mark@example.com").roles == ["agent"]
    assert still_signed_in(mark)


def test_sessions_that_expired_are_forgotten_with_their_tokens(agent_client, manager_client):
    from django.contrib.sessions.models import Session

    Session.objects.filter(session_key=agent_client.session.session_key).delete()  # expired
    assert services.forget_ended_sessions() == 1
    assert list(PortalSession.objects.values_list("session_key", flat=True)) == [
        manager_client.session.session_key
    ]


def test_a_session_without_tokens_signs_in_again_silently(sso, live_server):
    alice = signed_in(live_server, "alice")
    PortalSession.objects.filter(pk=row_of(alice).pk).update(access_token="", refresh_token="")
    backdate_recheck(alice)

    response = alice.get("/payments/?status=settled")

    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith(sso)
    assert query["prompt"] == ["none"]
    assert query["nonce"]
    assert "_auth_user_id" not in alice.session  # the old session is over either way
    state = alice.session["socialaccount_states"][query["state"][0]][0]
    assert state["next"] == "/payments/?status=settled"
    assert state["silent"] is True


def test_a_due_recheck_leaves_a_sign_in_under_way_alone(sso, live_server):
    """The callback of a step-up re-sign-in is not turned into a silent one (it reads roles)."""
    alice = signed_in(live_server, "alice")
    PortalSession.objects.filter(pk=row_of(alice).pk).update(access_token="", refresh_token="")
    backdate_recheck(alice)

    alice.get("/accounts/oidc/sso/login/callback/", {"error": "access_denied", "state": "x"})

    assert "_auth_user_id" in alice.session


def test_a_silent_re_sign_in_the_idp_refuses_lands_on_the_sign_in_page(sso, live_server):
    alice = signed_in(live_server, "alice")
    PortalSession.objects.filter(pk=row_of(alice).pk).update(access_token="", refresh_token="")
    backdate_recheck(alice)
    to_idp = alice.get("/payments/")
    state = parse_qs(urlsplit(to_idp["Location"]).query)["state"][0]

    response = alice.get(
        "/accounts/oidc/sso/login/callback/", {"error": "login_required", "state": state}
    )

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/payments/")
    failed = AuditEntry.objects.filter(action="identity.sign_in_failed").latest("id")
    assert "login_required" in failed.reason


def test_the_silent_re_sign_in_comes_back_signed_in_while_the_idp_session_lives(sso, live_server):
    from tests.dev_idp import idp_browser

    alice = signed_in(live_server, "alice")
    PortalSession.objects.filter(pk=row_of(alice).pk).update(access_token="", refresh_token="")
    backdate_recheck(alice)
    host = urlsplit(live_server.url).netloc
    to_idp = alice.get("/payments/", HTTP_HOST=host)
    with idp_browser("alice") as browser:  # the person's live IdP session
        answer = browser.get(to_idp["Location"])
    assert answer.status_code == 302, (answer.status_code, answer.text[:3000])
    back = urlsplit(answer.headers["location"])
    assert "code=" in back.query

    response = alice.get(f"{back.path}?{back.query}", HTTP_HOST=host)

    assert response.status_code == 302
    assert response["Location"] == "/payments/"
    assert still_signed_in(alice)
    assert row_of(alice).access_token


# --- The operator's kill switch -------------------------------------------------------------


def test_the_kill_switch_ends_every_session_of_a_person(sso, live_server, capsys):
    first, second = signed_in(live_server, "alice"), signed_in(live_server, "alice")
    mark = signed_in(live_server, "mark")

    call_command("identity", "end-sessions", "alice@example.com")

    assert "Ended 2 sessions of alice@example.com" in capsys.readouterr().out
    assert not still_signed_in(first)
    assert not still_signed_in(second)
    assert still_signed_in(mark)
    entry = AuditEntry.objects.filter(action="identity.sessions_ended").latest("id")
    assert entry.params == {"by": "operator", "user": "alice@example.com", "sessions": 2}
    assert entry.actor_name.startswith("cli:")


def test_the_kill_switch_by_username_for_a_person_without_sessions_is_recorded(db):
    user = UserFactory(username="olga.offboarded", email="olga@example.com")
    call_command("identity", "end-sessions", "olga.offboarded")
    entry = AuditEntry.objects.filter(action="identity.sessions_ended").latest("id")
    assert entry.target_id == str(user.pk)
    assert entry.params["sessions"] == 0
    with pytest.raises(CommandError, match="nobody"):
        call_command("identity", "end-sessions", "nobody@example.com")


# --- Groups released by scope (Okta), by profile (authentik), always (Keycloak) -------------


def test_no_groups_claim_at_all_is_told_apart_from_an_empty_list(settings):
    settings.OIDC_GROUPS_CLAIM = "groups"
    assert groups_claim_present([{"groups": []}, None]) is True
    assert groups_claim_present([{"sub": "1"}, None]) is False


def test_okta_style_without_the_groups_scope_says_no_groups_claim(settings, dev_idp, live_server):
    use_dev_idp(settings, dev_idp, client_id=f"{CLIENT_ID}-okta-style")
    alice = signed_in(live_server, "alice")

    page = alice.get("/no-access/")

    assert page.status_code == 403
    text = page.content.decode()
    assert "no groups claim at all" in text
    assert "OIDC_GROUPS_CLAIM" in text
    assert "OIDC_SCOPES" in text
    assert "openid email profile" in text
    entry = AuditEntry.objects.filter(action="identity.sign_in").latest("id")
    assert entry.params["groups_claim"] == "missing"
    assert entry.reason.startswith("no groups claim")


@pytest.mark.parametrize(
    ("style", "scopes"),
    [
        ("-okta-style", "openid email profile groups"),  # Okta: ask for the groups scope
        ("-authentik-style", ""),  # authentik: groups come with profile
        ("", ""),  # Keycloak: a group mapper sends them always
    ],
)
def test_each_style_of_group_release_gives_the_roles_by_configuration(
    settings, dev_idp, live_server, style, scopes
):
    use_dev_idp(settings, dev_idp, client_id=f"{CLIENT_ID}{style}", scopes=scopes)
    alice = signed_in(live_server, "alice")

    assert alice.get("/").status_code == 200
    assert User.objects.get(email="alice@example.com").roles == ["agent"]
    entry = AuditEntry.objects.filter(action="identity.sign_in").latest("id")
    assert entry.params["groups_claim"] == "present"
    assert entry.reason == ""


def test_an_empty_groups_list_is_the_ordinary_no_access_page(settings, no_role_client):
    session = no_role_client.session
    session[services.GROUPS_CLAIM_MISSING_KEY] = False
    session.save()
    text = no_role_client.get("/no-access/").content.decode()
    assert "none of your groups" in text
    assert "no groups claim" not in text


def test_the_dev_idp_publishes_the_key_the_tests_sign_with(sso):
    config = httpx.get(f"{sso}/.well-known/openid-configuration").json()
    keys = httpx.get(config["jwks_uri"]).json()["keys"]
    token = sign_as_idp({"iss": sso})
    assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"]
