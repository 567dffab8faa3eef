"""The shell renders in a real Chromium under the strict Content-Security-Policy."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_shell_page_has_no_console_error_and_no_csp_violation(page, page_watch, live_server, agent):
    sign_in_browser(page, live_server, agent)
    response = page.goto(live_server.url + "/")
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp

    expect(page.get_by_role("link", name="Operations Portal")).to_be_visible()
    expect(page.get_by_text("Support agent")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    # htmx loaded from our own origin and initialised.
    assert page.evaluate("typeof window.htmx") == "object"
    page.screenshot(path=str(ARTIFACTS / "shell.png"), full_page=True)
    assert page_watch() == []


def test_signed_out_visitors_are_not_shown_the_shell(page, live_server):
    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url
