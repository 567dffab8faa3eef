"""HTTP clients for the Go services' APIs (shared/contracts/go-apis.md).

One ``httpx.Client`` per service and process, with the bearer token,
``Idempotency-Key`` on every mutation and ``X-Request-ID`` on every call. The
client classifies each answer as the contract says: 2xx accepted,
5xx/429/``409 idempotency_key_in_use``/timeouts/connection errors transient
(retry with the same key), any other 4xx final. Retrying is the caller's job
(``apps.approvals.services.perform_outbound_call``) so that every attempt is
recorded.

**One deadline per call.** httpx's timeouts bound each operation (one
connect, one read of a chunk), not the call: a server that trickles its body
a byte every few seconds never trips them. So every call has one wall-clock
deadline (``GO_API_TIMEOUT`` from when the call was claimed, connecting
included); a watchdog shuts the call's socket down when it passes, whatever
the call is doing, and the call ends as a transient ``timeout``. Connections
are not kept alive between calls, so every call owns its socket.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
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


IN_FLIGHT_CONFLICT = "idempotency_key_in_use"


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
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        )

    def post(
        self,
        path: str,
        *,
        json: dict[str, Any],
        idempotency_key: str,
        request_id: str,
        deadline: float | None = None,
    ) -> ApiAnswer:
        """POST once, ending by ``deadline`` (``time.monotonic()``; default: ``timeout`` from now)."""
        headers = {"Idempotency-Key": idempotency_key, "X-Request-ID": request_id}
        deadline = time.monotonic() + self.timeout if deadline is None else deadline
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out()
        watchdog = _Watchdog(remaining)
        timeout = httpx.Timeout(remaining, connect=min(self.connect_timeout, remaining))
        try:
            response = self._client.post(
                path,
                json=json,
                headers=headers,
                timeout=timeout,
                extensions={"trace": watchdog.trace},
            )
        except httpx.TimeoutException as exc:
            raise self._timed_out() from exc
        except httpx.TransportError as exc:
            if watchdog.fired:
                raise self._timed_out() from exc
            raise TransientApiError(
                status=None,
                code="connection_error",
                message=f"Could not reach the {self.service} service ({type(exc).__name__}).",
            ) from exc
        finally:
            watchdog.stop()
        body = _json_object(response)
        if response.is_success:
            return ApiAnswer(status=response.status_code, body=body)
        code = str(body.get("code") or f"http_{response.status_code}")
        message = str(body.get("message") or response.reason_phrase or "no message")
        transient = (
            response.status_code >= 500
            or response.status_code == 429
            or (response.status_code == 409 and code == IN_FLIGHT_CONFLICT)
        )
        error_class = TransientApiError if transient else FinalApiError
        raise error_class(status=response.status_code, code=code, message=message)

    def _timed_out(self) -> TransientApiError:
        return TransientApiError(
            status=None,
            code="timeout",
            message=f"No complete answer from the {self.service} service within "
            f"{self.timeout:g} s.",
        )

    def close(self) -> None:
        self._client.close()


class _Watchdog:
    """Shuts a call's socket down when its deadline passes, whatever the call is waiting on.

    The socket comes from httpcore's ``trace`` extension (``connect_tcp``
    and ``start_tls`` hand over the network stream). Shutting it down makes the blocked
    read or write return at once; the client then reports a timeout.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event_name: str, info: dict[str, Any]) -> None:
        # TLS wraps (and detaches) the TCP socket: follow the stream to the wrapped one.
        if event_name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            with self._lock:
                self._socket = sock
                if self.fired:
                    self._shut_down()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            self._shut_down()

    def _shut_down(self) -> None:
        if self._socket is None:
            return
        with contextlib.suppress(OSError):  # already closed: the call ended on its own
            self._socket.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


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
