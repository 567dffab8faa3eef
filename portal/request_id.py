"""Request ids: one id per request, in every log line and in the response.

The id arrives in ``X-Request-ID`` from a proxy or a calling service, or is
created here. It is kept in a context variable so that log records, audit
entries and outgoing calls to the Go services (which must carry the same
header) can all read it without passing it around.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
# A caller's id is accepted only if it is short and harmless in a log line.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def bind_request_id(request_id: str | None):
    """Set the id for the current context (a Celery task, a CLI run); returns the reset token."""
    return _current.set(request_id)


def reset_request_id(token) -> None:
    _current.reset(token)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get(_META_KEY, "")
        request_id = incoming if _ACCEPTABLE.match(incoming) else new_request_id()
        request.request_id = request_id
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True
