"""Service tokens: how the Go services prove who they are to the portal's API.

``SERVICE_API_TOKENS`` holds comma-separated ``name:token`` pairs. A caller
sends ``Authorization: Bearer <token>``; the token is compared with every
configured token (SHA-256 digests compared with :func:`hmac.compare_digest`,
no early exit), so neither the position of a match nor how much of a token
was right shows in the timing. Two entries may share a name while a token is
rotated: both tokens work and the caller is the same service. The token is
never logged or stored; the caller's *name* is, on every request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger("portal.api")

NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MIN_TOKEN_LENGTH = 32


@dataclass(frozen=True)
class ServiceCaller:
    """The authenticated caller of an API request: a service, by its configured name."""

    name: str
    is_authenticated: bool = True
    is_anonymous: bool = False

    def __str__(self) -> str:
        return self.name


@functools.lru_cache(maxsize=4)
def parse_service_tokens(raw: str) -> tuple[tuple[str, bytes], ...]:
    """``(name, SHA-256 of the token)`` per entry; a malformed entry is named, never echoed."""
    entries = []
    for position, item in enumerate((part.strip() for part in raw.split(",")), start=1):
        if not item:
            continue
        name, separator, token = (piece.strip() for piece in item.partition(":"))
        if not separator or not NAME.match(name) or not token:
            raise ImproperlyConfigured(
                f"SERVICE_API_TOKENS: entry {position} is not name:token "
                "(the name in letters, digits, '.', '_' or '-')."
            )
        if len(token) < MIN_TOKEN_LENGTH:
            raise ImproperlyConfigured(
                f"SERVICE_API_TOKENS: the token of {name!r} (entry {position}) is shorter than "
                f"{MIN_TOKEN_LENGTH} characters."
            )
        entries.append((name, hashlib.sha256(token.encode()).digest()))
    return tuple(entries)


def service_for_token(presented: bytes) -> str | None:
    """The name of the service this token belongs to, or None. Compares with every entry."""
    digest = hashlib.sha256(presented).digest()
    found = None
    for name, expected in parse_service_tokens(settings.SERVICE_API_TOKENS):
        if hmac.compare_digest(digest, expected) and found is None:
            found = name
    return found


class ServiceTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>`` → :class:`ServiceCaller`; anything else is refused."""

    def authenticate(self, request: Request) -> tuple[ServiceCaller, None] | None:
        header = get_authorization_header(request)
        if not header:
            return None  # → 401 not_authenticated
        scheme, _, presented = header.partition(b" ")
        presented = presented.strip()
        if scheme.lower() != b"bearer" or not presented:
            _refused(request, "not a bearer token")
            raise AuthenticationFailed("Send the token as: Authorization: Bearer <token>.")
        name = service_for_token(presented)
        if name is None:
            _refused(request, "unknown or revoked token")
            raise AuthenticationFailed("The token is not valid (unknown or revoked).")
        return ServiceCaller(name), None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="portal-api"'


def _refused(request: Request, why: str) -> None:
    logger.warning(
        "API call refused: %s",
        why,
        extra={"path": request.path, "client": request.META.get("REMOTE_ADDR", "")},
    )


class IsService(BasePermission):
    """Every API view: the caller is a service with a valid token."""

    def has_permission(self, request: Request, view: object) -> bool:
        return isinstance(request.user, ServiceCaller)


class ServiceRateThrottle(SimpleRateThrottle):
    """``SERVICE_API_RATE`` requests per service, counted in the shared cache (every web process)."""

    scope = "service"

    def get_rate(self) -> str:
        return settings.SERVICE_API_RATE

    def get_cache_key(self, request: Request, view: object) -> str | None:
        if isinstance(request.user, ServiceCaller):
            return f"throttle_service_{request.user.name}"
        return None
