"""One error body for every error of the API: ``{"code": ..., "message": ...}``.

Validation errors add ``fields`` (field name → messages). The ``code`` is
stable and meant for programs (``not_authenticated``, ``authentication_failed``,
``permission_denied``, ``not_found``, ``method_not_allowed``, ``invalid``,
``parse_error``, ``unsupported_media_type``, ``not_acceptable``,
``throttled``, ``not_ready``, ``expired``, ``server_error``); the ``message``
is for the people reading logs.
"""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.request_id import current_request_id

logger = logging.getLogger("portal.api")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"
    default_detail = "The resource is not in a state that allows this."


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_code = "expired"
    default_detail = "The resource existed but is no longer available."


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _flatten(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _flatten(value)]
    return [str(detail)]


def _fields(detail: dict) -> dict[str, list[str]]:
    return {str(name): _flatten(value) for name, value in detail.items()}


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(exc.detail, dict):
            fields = _fields(exc.detail)
            first = next((f"{name}: {msgs[0]}" for name, msgs in fields.items() if msgs), "")
            return {
                "code": "invalid",
                "message": f"The request is not valid. {first}".strip(),
                "fields": fields,
            }
        messages = _flatten(exc.detail)
        return {"code": "invalid", "message": messages[0] if messages else "Not valid."}
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    return {"code": str(code), "message": " ".join(_flatten(exc.detail))}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler (headers such as ``WWW-Authenticate`` and ``Retry-After``), our body."""
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an API error: a bug. Logged with its traceback; the caller gets the same body shape.
        logger.error("API view failed", exc_info=exc)
        return Response(
            {
                "code": "server_error",
                "message": f"The portal failed to answer (request {current_request_id() or '-'}).",
            },
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.APIException):
        response.data = error_body(exc)
    else:  # Http404 and Django's PermissionDenied, translated by DRF's handler
        code = "not_found" if response.status_code == 404 else "permission_denied"
        response.data = {"code": code, "message": str(response.data.get("detail", ""))}
    return response
