"""Signing in through a real OpenID Connect provider (the development IdP) in headless Chromium."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from apps.audit.models import AuditEntry
from apps.identity.models import PortalSession, User
from tests.conftest import ARTIFACTS
from tests.dev_idp import idp_admin, logout_token, sign_as_idp, sign_in_through_idp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("username", "badge"),
    [("alice", "Support agent"), ("mark", "Manager"), ("olga", "Auditor")],
)
def test_each_role_signs_in_and_lands_on_the_start_page(
    page, page_watch, live_server, sso, username, badge
):
    sign_in_through_idp(page, live_server, username)
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator(".topbar__user")).to_contain_text(badge)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    user = User.objects.get(email=f"{username}@example.com")
    assert user.idp_groups
    assert user.roles
    page.screenshot(path=str(ARTIFACTS / f"signed-in-{username}.png"))
    assert page_watch(origin=live_server.url) == []

    page.get_by_role("button", name="Sign out").click()
    # Without an id_token_hint the IdP must ask whether to end its own session too (RP-initiated
    # logout 1.0); the person confirms and comes back to the portal.
    expect(page).to_have_url(re.compile(re.escape(sso)))
    page.locator("form button[type=submit]").first.click()
    expect(page.get_by_text("You are signed out")).to_be_visible()
    assert page_watch(origin=live_server.url) == []
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_a_person_without_a_portal_role_sees_only_the_no_access_page(page, live_server, sso):
    sign_in_through_idp(page, live_server, "nick")
    expect(page).to_have_url(live_server.url + "/no-access/")
    expect(page.get_by_role("heading", name=re.compile("No access"))).to_be_visible()
    expect(page.get_by_text("agent")).to_be_visible()
    assert page.get_by_role("navigation", name="Main").count() == 0
    page.goto(live_server.url + "/")
    expect(page).to_have_url(live_server.url + "/no-access/")


def test_a_tampered_state_is_rejected(page, live_server, sso):
    # Signed in at the IdP already, so its authorize endpoint answers at once with a redirect.
    page.goto(f"{sso}/accounts/login/")
    page.locator("input[name=login]").fill("alice")
    page.locator("input[name=password]").fill("portal-demo")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()

    # Start the portal's sign-in in this browser, stopping before each redirect is followed.
    page.goto(live_server.url + "/accounts/login/")
    form = page.locator("form[action*='/accounts/oidc/sso/login/']")
    action = live_server.url + form.get_attribute("action")
    token = form.locator("input[name=csrfmiddlewaretoken]").get_attribute("value")
    to_idp = page.context.request.post(action, form={"csrfmiddlewaretoken": token}, max_redirects=0)
    assert to_idp.status == 302
    to_portal = page.context.request.get(to_idp.headers["location"], max_redirects=0)
    callback = to_portal.headers["location"]
    assert callback.startswith(live_server.url + "/accounts/oidc/sso/login/callback/")
    assert "state=" in callback

    page.goto(re.sub(r"state=[^&]+", "state=forged-by-an-attacker", callback))
    expect(page.get_by_text(re.compile("failure|error", re.IGNORECASE)).first).to_be_visible()
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    # The genuine callback still works: the refusal was about the state, nothing else.
    page.goto(callback)
    expect(page.locator(".topbar__user")).to_contain_text("Support agent")


def test_a_logout_at_the_idp_ends_the_browser_session_at_once(page, live_server, sso):
    sign_in_through_idp(page, live_server, "alice")
    expect(page.locator(".topbar__user")).to_contain_text("Support agent")
    sub = PortalSession.objects.get(user__email="alice@example.com").idp_subject

    # The IdP calls the portal server to server, as Keycloak or Okta would.
    answer = httpx.post(
        f"{live_server.url}/oidc/backchannel-logout/",
        data={"logout_token": sign_as_idp(logout_token(sub))},
    )
    assert answer.status_code == 200

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Payments").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/payments/"))
    expect(page.get_by_role("button", name="Sign in with Dev IdP")).to_be_visible()
    assert AuditEntry.objects.filter(action="identity.sessions_ended").count() == 1


def test_a_manager_removed_at_the_idp_loses_the_queue_in_the_same_browser_session(
    page, live_server, sso
):
    from datetime import timedelta
    from importlib import import_module

    from django.conf import settings
    from django.utils import timezone

    from apps.identity.services import ROLES_CHECKED_KEY

    sign_in_through_idp(page, live_server, "mark")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name=re.compile("Approvals"))).to_be_visible()
    try:
        idp_admin("devidp_user", "mark", "--groups", "agent")
        # Ten minutes later, as far as the portal can tell.
        key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
        session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        earlier = timezone.now() - timedelta(minutes=11)
        session[ROLES_CHECKED_KEY] = earlier.isoformat()
        session.save()
        PortalSession.objects.filter(session_key=key).update(roles_checked_at=earlier)

        nav.get_by_role("link", name="Payments").click()

        expect(page.locator(".topbar__user")).to_contain_text("Support agent")
        expect(nav.get_by_role("link", name=re.compile("Approvals"))).to_have_count(0)
        page.goto(live_server.url + "/requests/queue/")
        expect(page.get_by_text("You don't have access to this")).to_be_visible()
    finally:
        idp_admin("devidp_user", "mark", "--groups", "manager")
