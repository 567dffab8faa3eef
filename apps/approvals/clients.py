"""HTTP clients for the Go services' APIs (shared/contracts/go-apis.md).

One ``httpx.Client`` per service and process, with connect and total
timeouts, the bearer token, ``Idempotency-Key`` on every mutation and
``X-Request-ID`` on every call. The client classifies each answer as the
contract says: 2xx accepted, 5xx/429/timeouts/connection errors transient
(retry with the same key), any other 4xx final. Retrying is the caller's
job (``apps.approvals.services.perform_outbound_call``) so that every attempt
is recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: dict[str, Any]


class GoApiError(Exception):
    def __init__(self, *, status: int | None, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class TransientApiError(GoApiError):
    """Try again later with the same idempotency key."""


class FinalApiError(GoApiError):
    """The service refused; retrying would not change its answer."""


class GoServiceClient:
    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        token: str,
        connect_timeout: float,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise FinalApiError(
                status=None,
                code="not_configured",
                message=f"The {service} service URL is not configured.",
            )
        self.service = service
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            transport=transport,
        )

    def post(
        self, path: str, *, json: dict[str, Any], idempotency_key: str, request_id: str
    ) -> ApiAnswer:
        headers = {"Idempotency-Key": idempotency_key, "X-Request-ID": request_id}
        try:
            response = self._client.post(path, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientApiError(
                status=None,
                code="timeout",
                message=f"No answer from the {self.service} service in time.",
            ) from exc
        except httpx.TransportError as exc:
            raise TransientApiError(
                status=None,
                code="connection_error",
                message=f"Could not reach the {self.service} service ({type(exc).__name__}).",
            ) from exc
        body = _json_object(response)
        if response.is_success:
            return ApiAnswer(status=response.status_code, body=body)
        code = str(body.get("code") or f"http_{response.status_code}")
        message = str(body.get("message") or response.reason_phrase or "no message")
        error_class = (
            TransientApiError
            if response.status_code >= 500 or response.status_code == 429
            else FinalApiError
        )
        raise error_class(status=response.status_code, code=code, message=message)

    def close(self) -> None:
        self._client.close()


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@cache
def payments_client() -> GoServiceClient:
    return GoServiceClient(
        service="payments",
        base_url=settings.PAYMENTS_API_URL,
        token=settings.PAYMENTS_API_TOKEN,
        connect_timeout=settings.GO_API_CONNECT_TIMEOUT,
        timeout=settings.GO_API_TIMEOUT,
    )


@cache
def accounts_client() -> GoServiceClient:
    return GoServiceClient(
        service="accounts",
        base_url=settings.ACCOUNTS_API_URL,
        token=settings.ACCOUNTS_API_TOKEN,
        connect_timeout=settings.GO_API_CONNECT_TIMEOUT,
        timeout=settings.GO_API_TIMEOUT,
    )


def reset_clients() -> None:
    """Forget cached clients (settings changed, e.g. in tests)."""
    for factory in (payments_client, accounts_client):
        if factory.cache_info().currsize:
            factory().close()
        factory.cache_clear()
