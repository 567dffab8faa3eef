"""Service tokens: missing, wrong, revoked and rotated tokens, and who is recorded as the caller."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.api.authentication import parse_service_tokens, service_for_token
from apps.audit.models import AuditEntry
from apps.reports.models import ReportRun
from tests.api.conftest import (
    LEDGER_NEXT_TOKEN,
    LEDGER_TOKEN,
    PAYOUTS_TOKEN,
    ServiceClient,
    assert_error,
)

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/report-runs/"
A_RUN = {"kind": "payments", "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}


def test_without_a_token_the_answer_is_a_clean_401():
    response = ServiceClient(None).get(RUNS)
    body = assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="portal-api"'
    assert "fields" not in body


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-token-the-portal-knows-0123456789",
        f"Bearer {LEDGER_TOKEN[:-1]}",  # one character short
        f"Token {LEDGER_TOKEN}",  # another scheme
        f"Basic {LEDGER_TOKEN}",
        "Bearer ",
    ],
)
def test_a_wrong_token_is_a_clean_401(header):
    client = ServiceClient(None)
    response = client.get(RUNS, HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == 'Bearer realm="portal-api"'
    assert_error(
        client.post_json(RUNS, A_RUN, HTTP_AUTHORIZATION=header), 401, "authentication_failed"
    )
    assert not ReportRun.objects.exists()


def test_a_revoked_token_stops_working_at_once(settings, payouts):
    assert payouts.get(RUNS).status_code == 200
    settings.SERVICE_API_TOKENS = f"ledger:{LEDGER_TOKEN}"  # payouts' entry removed
    assert_error(payouts.get(RUNS), 401, "authentication_failed")


def test_during_a_rotation_both_tokens_are_the_same_service(settings):
    old, new = ServiceClient(LEDGER_TOKEN), ServiceClient(LEDGER_NEXT_TOKEN)
    made_with_old = old.post_json(RUNS, A_RUN).json()
    # The new token sees what the old one made: the caller is the service, not the token.
    assert [run["id"] for run in new.get(RUNS).json()["results"]] == [made_with_old["id"]]
    settings.SERVICE_API_TOKENS = f"ledger:{LEDGER_NEXT_TOKEN}"  # rotation finished
    assert_error(old.get(RUNS), 401, "authentication_failed")
    assert new.get(f"{RUNS}{made_with_old['id']}/").status_code == 200


def test_a_browser_session_counts_for_nothing(manager_client):
    assert_error(manager_client.get(RUNS), 401, "not_authenticated")
    # No CSRF token is asked for either: the API takes tokens only.
    assert_error(
        manager_client.post(RUNS, A_RUN, content_type="application/json"), 401, "not_authenticated"
    )


def test_the_caller_is_recorded_and_the_token_never_is(ledger, caplog):
    caplog.set_level(logging.INFO)
    created = ledger.post_json(RUNS, A_RUN, HTTP_USER_AGENT="ledger/1.4")
    assert created.status_code == 202
    entry = AuditEntry.objects.get(action="report.request", target_id=created.json()["id"])
    assert (entry.actor_kind, entry.actor_name, entry.user_agent) == (
        "service",
        "ledger",
        "ledger/1.4",
    )
    ledger.get(RUNS)
    ServiceClient(None).get(RUNS, HTTP_AUTHORIZATION="Bearer wrong-token-of-sufficient-length-000")
    reads = [
        r for r in caplog.records if r.name == "portal.api" and r.getMessage().startswith("api GET")
    ]
    assert [r.service for r in reads] == ["ledger", ""]
    everything = caplog.text + "".join(
        str(value) for e in AuditEntry.objects.all() for value in e.__dict__.values()
    )
    for token in (LEDGER_TOKEN, LEDGER_NEXT_TOKEN, PAYOUTS_TOKEN, "wrong-token-of-sufficient"):
        assert token not in everything


def test_tokens_are_compared_with_every_entry_by_digest(settings):
    assert service_for_token(LEDGER_TOKEN.encode()) == "ledger"
    assert service_for_token(LEDGER_NEXT_TOKEN.encode()) == "ledger"
    assert service_for_token(PAYOUTS_TOKEN.encode()) == "payouts"
    assert service_for_token(b"") is None
    settings.SERVICE_API_TOKENS = ""
    assert service_for_token(LEDGER_TOKEN.encode()) is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("ledger", "entry 1 is not name:token"),
        (f"ledger:{LEDGER_TOKEN},:{PAYOUTS_TOKEN}", "entry 2 is not name:token"),
        ("led ger:" + "x" * 40, "entry 1 is not name:token"),
        ("ledger:short-secret", "shorter than 32 characters"),
    ],
)
def test_a_malformed_setting_is_named_without_echoing_the_token(raw, problem):
    with pytest.raises(ImproperlyConfigured, match=problem) as caught:
        parse_service_tokens(raw)
    assert "short-secret" not in str(caught.value)
    assert PAYOUTS_TOKEN not in str(caught.value)
