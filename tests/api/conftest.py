"""Service tokens for the API tests, and a client that calls the API the way a Go service does."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from tests.reports.conftest import report_files  # noqa: F401 — report files in a temporary folder

LEDGER_TOKEN = "ledger-token-0123456789abcdefghijklmnopqrstuv"
LEDGER_NEXT_TOKEN = "ledger-rotated-0123456789abcdefghijklmnopqrs"
PAYOUTS_TOKEN = "payouts-token-0123456789abcdefghijklmnopqrst"


@pytest.fixture(autouse=True)
def service_tokens(settings):
    """Two services; ``ledger`` is half-way through a rotation (two tokens, one name)."""
    settings.SERVICE_API_TOKENS = (
        f"ledger:{LEDGER_TOKEN}, payouts:{PAYOUTS_TOKEN},ledger:{LEDGER_NEXT_TOKEN}"
    )
    cache.clear()  # the rate limit's counters
    yield
    cache.clear()


class ServiceClient(Client):
    """Sends ``Authorization: Bearer <token>`` on every request, and JSON bodies."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        if token is not None:
            self.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def post_json(self, path: str, data: object, **extra):
        return self.post(path, data, content_type="application/json", **extra)


@pytest.fixture
def ledger() -> ServiceClient:
    return ServiceClient(LEDGER_TOKEN)


@pytest.fixture
def payouts() -> ServiceClient:
    return ServiceClient(PAYOUTS_TOKEN)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body
