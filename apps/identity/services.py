"""Writes that concern identity: sign-in bookkeeping and access decisions worth recording."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.http import HttpRequest

logger = logging.getLogger("portal.access")


def record_access_denied(*, request: HttpRequest, required_roles: Sequence[str]) -> None:
    user = request.user
    logger.warning(
        "access denied",
        extra={
            "event": "access.denied",
            "path": request.path,
            "method": request.method,
            "user_id": getattr(user, "pk", None),
            "user_roles": list(getattr(user, "roles", []) or []),
            "required_roles": list(required_roles),
        },
    )
