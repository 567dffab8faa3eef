"""Fixtures for the whole suite: people in each role, signed-in clients, the browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client

from apps.identity.roles import Role
from tests.dev_idp import dev_idp, sso  # noqa: F401 — fixtures shared by every browser test
from tests.factories import UserFactory

# Playwright's sync API runs an event loop in the test thread; Django refuses
# ORM calls from such a thread unless told that this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-results"


@pytest.fixture
def agent(db):
    return UserFactory(username="alice.agent", first_name="Alice", roles=[Role.AGENT])


@pytest.fixture
def manager(db):
    return UserFactory(username="mark.manager", first_name="Mark", roles=[Role.MANAGER])


@pytest.fixture
def other_manager(db):
    return UserFactory(username="maria.manager", first_name="Maria", roles=[Role.MANAGER])


@pytest.fixture
def auditor(db):
    return UserFactory(username="olga.auditor", first_name="Olga", roles=[Role.AUDITOR])


@pytest.fixture
def no_role_user(db):
    return UserFactory(username="nick.norole", first_name="Nick", roles=[])


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def agent_client(agent) -> Client:
    return _client_for(agent)


@pytest.fixture
def manager_client(manager) -> Client:
    return _client_for(manager)


@pytest.fixture
def auditor_client(auditor) -> Client:
    return _client_for(auditor)


@pytest.fixture
def no_role_client(no_role_user) -> Client:
    return _client_for(no_role_user)


@pytest.fixture(autouse=True)
def _fresh_local_memos():
    """Per-process memos (the start page's past-day chart sums) start empty in every test.

    The live server runs in the test process, so a memo one test warmed would
    otherwise show its data to the next.
    """
    from django.core.cache import caches

    caches["local"].clear()
    yield
    caches["local"].clear()


# --- The action log is append-only, even for tests ---------------------------------------


@pytest.fixture(autouse=True)
def _append_only_action_log(request):
    """Transactional tests end with Django truncating every table, which the action log refuses.

    For those tests only, the TRUNCATE trigger is switched off after the test
    (as the superuser the tests run as) so Django can empty the table, and on
    again before the next one. Nothing in the portal can do this.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = (
        "transactional_db" in request.fixturenames
        or "live_server" in request.fixturenames
        or (marker is not None and marker.kwargs.get("transaction", False))
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_entry ENABLE ALWAYS TRIGGER audit_entry_no_truncate")
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_truncate")


# --- Messaging ------------------------------------------------------------------


@pytest.fixture
def bus():
    """A private exchange and queue on the real RabbitMQ for this test, deleted afterwards."""
    from django.conf import settings

    from tests.events.conftest import Bus

    bus = Bus(settings.CELERY_BROKER_URL)
    yield bus
    bus.delete()


# --- Browser ------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser build."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. Install Debian's package "
            "(apt-get install chromium) or point PORTAL_CHROMIUM at a Chromium binary."
        )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


def watch_page(page):
    """Collect console errors and CSP violations of a page for assertions.

    The returned function, called with ``origin=...``, keeps only what pages
    of that origin reported (a sign-in passes through the IdP's own pages,
    which are not ours).
    """
    problems: list[tuple[str, str]] = []
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => {"
        " (window.__cspViolations = window.__cspViolations || [])"
        ".push(e.violatedDirective + ' ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber"
        " + ':' + e.columnNumber + ' ' + e.sample); });"
    )
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and problems.append(
                (msg.location.get("url", "") or page.url, f"{msg.text} (on {page.url})")
            )
        ),
    )
    page.on("pageerror", lambda exc: problems.append((page.url, str(exc))))

    def collected(origin: str | None = None) -> list[str]:
        violations = page.evaluate("window.__cspViolations || []")
        found = [text for url, text in problems if origin is None or url.startswith(origin)]
        return found + [f"CSP: {v}" for v in violations]

    return collected


@pytest.fixture
def page_watch(page):
    """``watch_page`` for pytest-playwright's ``page``."""
    return watch_page(page)


def sign_in_browser(page, live_server, user) -> None:
    """Give the browser a session for ``user`` (tests only: real sign-in is tested via the IdP)."""
    client = _client_for(user)
    session_cookie = client.cookies["sessionid"]
    page.context.add_cookies(
        [{"name": "sessionid", "value": session_cookie.value, "url": live_server.url}]
    )
