"""Production: every required variable must be set, and the deploy checks pass.

The portal runs behind a TLS-terminating proxy that sets
``X-Forwarded-Proto``; cookies are secure, HSTS is on, plain HTTP is
redirected (health probes excepted).
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_str
from portal.settings.base import *  # noqa: F403
from portal.settings.base import (
    AUDIT_DIGEST_MINUTES,
    AUDIT_SIGNING_KEY,
    CELERY_BROKER_URL,
    EVENTS_BROKER_URL,
    logging_config,
)

REQUIRED = ("DJANGO_SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL")
_missing = [name for name in REQUIRED if not os.environ.get(name, "").strip()]
# Signed digests of the action log (on unless AUDIT_DIGEST_MINUTES=0) need the signing key.
if AUDIT_DIGEST_MINUTES > 0 and not AUDIT_SIGNING_KEY.strip():
    _missing.append("AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE, or AUDIT_DIGEST_MINUTES=0)")
if _missing:
    raise ImproperlyConfigured(
        "Production settings need these environment variables, which are unset or empty: "
        + ", ".join(_missing)
        + ". See docs/configuration.md."
    )

if AUDIT_SIGNING_KEY.strip():
    from apps.audit.signing import InvalidSigningKey, load_signing_key

    try:
        load_signing_key(AUDIT_SIGNING_KEY)
    except InvalidSigningKey as _error:
        raise ImproperlyConfigured(f"AUDIT_SIGNING_KEY: {_error}") from None

DEBUG = False
PORTAL_ENVIRONMENT = "production"
EVENTS_BROKER_URL = EVENTS_BROKER_URL or CELERY_BROKER_URL

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-portal-session"
CSRF_COOKIE_NAME = "__Host-portal-csrf"
CSRF_TRUSTED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS if not host.startswith(".")]  # noqa: F405

# WhiteNoise serves the collected static files right after the security middleware.
MIDDLEWARE = [*MIDDLEWARE]  # noqa: F405
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "whitenoise.middleware.WhiteNoiseMiddleware",
)

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGGING = logging_config(env_str("LOG_FORMAT", "json"), env_str("LOG_LEVEL", "INFO").upper())
