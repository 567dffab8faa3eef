"""The stand-in's HTTP server: the Go APIs of go-apis.md, plus ``/_standin/`` admin endpoints.

Start it in-process (tests) with :func:`start_standin`, or as a process with
``python -m devtools.standin serve``.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import select
import socket
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.standin.publisher import EventPublisher
from devtools.standin.service import ApiError, GoServices

logger = logging.getLogger("standin")

ROUTES = [
    (re.compile(r"^/v1/payments/(?P<id>[^/]+)/refunds$"), "refund", "payments"),
    (re.compile(r"^/v1/accounts/(?P<id>[^/]+)/freeze$"), "freeze", "accounts"),
    (re.compile(r"^/v1/accounts/(?P<id>[^/]+)/unfreeze$"), "unfreeze", "accounts"),
]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.headers.get("X-Request-ID", "-"), format % args)

    def _send(
        self, status: int, body: dict | list, *, trickle_seconds: float | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not trickle_seconds:
            try:
                self.wfile.write(data)
            except OSError:  # the client gave up waiting (its deadline passed)
                self.close_connection = True
            return
        pause = trickle_seconds / max(len(data), 1)
        for offset in range(len(data)):
            if self._client_gone(pause):
                self.close_connection = True
                return
            try:
                self.wfile.write(data[offset : offset + 1])
            except OSError:
                self.close_connection = True
                return

    def _client_gone(self, wait: float) -> bool:
        """Wait, noticing meanwhile if the client closed the connection (as Go's server does)."""
        readable, _, _ = select.select([self.connection], [], [], wait)
        if not readable:
            return False
        try:
            gone = self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
        if not gone:
            time.sleep(wait)  # it sent something else; keep the pace
        return gone

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(422, "invalid_request", "body is not JSON") from None

    def do_GET(self) -> None:
        services = self.server.services
        path, _, query = self.path.partition("?")
        params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        if path == "/_standin/health":
            self._send(200, {"status": "ok"})
        elif path == "/_standin/effects":
            key = params.get("idempotency_key", "")
            self._send(
                200, {"effects": services.effect_count(key), **asdict(services.key_traffic(key))}
            )
        elif path == "/_standin/faults":
            self._send(200, asdict(services.faults))
        elif path == "/_standin/refunds":
            with services.lock:
                self._send(200, [r.data() for r in services.refunds.values()])
        else:
            self._send(404, {"code": "not_found", "message": "no such endpoint"})

    def do_POST(self) -> None:
        try:
            self._post()
        except ApiError as error:
            self._send(error.status, error.body())

    def _post(self) -> None:
        services = self.server.services
        path = self.path.partition("?")[0]
        if path.startswith("/_standin/"):
            body = self._body()
            if path == "/_standin/faults":
                with services.lock:
                    services.faults.update(body)
                self._send(200, asdict(services.faults))
            elif path == "/_standin/faults/reset":
                services.reset_faults()
                self._send(200, asdict(services.faults))
            elif path == "/_standin/accounts":
                self._send(201, services.create_account(**body).data())
            elif path == "/_standin/payments":
                self._send(201, services.create_payment(**body).data())
            else:
                self._send(404, {"code": "not_found", "message": "no such endpoint"})
            return
        route = next(((p.match(path), op, svc) for p, op, svc in ROUTES if p.match(path)), None)
        if route is None:
            raise ApiError(404, "not_found", "no such endpoint")
        match, operation, service = route
        self._authenticate(service)
        body = self._body()
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_request", "body must be a JSON object")
        key = self.headers.get("Idempotency-Key", "")
        services.open_call(key)
        try:
            status, answer = services.call(operation, match["id"], body, idempotency_key=key)
            self._send(status, answer, trickle_seconds=services.take_trickle())
        except ApiError as error:
            self._send(error.status, error.body())
        finally:
            services.close_call(key)

    def _authenticate(self, service: str) -> None:
        expected = self.server.tokens[service]
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise ApiError(401, "unauthorized", "missing or invalid bearer token")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, services: GoServices, tokens: dict[str, str]) -> None:
        super().__init__(address, _Handler)
        self.services = services
        self.tokens = tokens


@dataclass
class RunningStandin:
    url: str
    services: GoServices
    server: _Server
    thread: threading.Thread
    publisher: EventPublisher

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for timer in self.services.timers:
            timer.cancel()
        self.publisher.close()


class _LockedPublisher:
    """kombu connections are not thread-safe; the HTTP server is threaded."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher
        self._lock = threading.Lock()

    def publish(self, event: dict) -> None:
        with self._lock:
            self._publisher.publish(event)


def start_standin(
    *,
    broker_url: str,
    exchange: str = "events",
    host: str = "127.0.0.1",
    port: int = 0,
    payments_token: str = "payments-token",  # noqa: S107 — development defaults
    accounts_token: str = "accounts-token",  # noqa: S107
    seed: int | None = None,
    portal_queue: str | None = None,
) -> RunningStandin:
    bindings = {portal_queue: ("account.*", "payment.*", "refund.*")} if portal_queue else None
    publisher = EventPublisher(broker_url, exchange, virtual_bindings=bindings)
    services = GoServices(_LockedPublisher(publisher), seed=seed)
    server = _Server(
        (host, port), services, {"payments": payments_token, "accounts": accounts_token}
    )
    thread = threading.Thread(target=server.serve_forever, name="standin-http", daemon=True)
    thread.start()
    url = f"http://{host}:{server.server_address[1]}"
    return RunningStandin(
        url=url, services=services, server=server, thread=thread, publisher=publisher
    )
