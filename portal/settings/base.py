"""Settings shared by every environment.

Every value an operator can change is read here from the environment, under
the names fixed by ``shared/contracts/configuration.md``; environment modules
only choose defaults and switch on what differs.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF

from portal.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "django_tables2",
    "django_filters",
    "csp",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "apps.identity",
    "apps.accounts",
    "apps.payments",
    "apps.events",
    "apps.audit",
    "apps.approvals",
    "apps.workspace",
    "apps.reports",
    "apps.api",
    "apps.health",
    "apps.home",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.request_id.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.identity.middleware.SessionLifetimeMiddleware",
    "apps.home.middleware.DisplayTimezoneMiddleware",
    "apps.identity.access.AccessPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "apps.home.context_processors.shell",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# PostgreSQL only. DATABASE_URL wins; development and tests fall back to the
# embedded server (see portal.embedded_postgres), production requires it.
DATABASE_URL = env_str("DATABASE_URL")
# Persistent connections: measured 124 → 302 req/s on a 50-row list (MEASURED.md).
CONN_MAX_AGE = env_int("CONN_MAX_AGE", 60)
# List pages (docs/lists.md): a list's count query stops after this many milliseconds and
# says "more than N" (0: no limit); the intake freshness shown on every page is read at
# most once per PORTAL_FRESHNESS_CACHE_SECONDS per process (0: on every request).
PORTAL_LIST_COUNT_TIMEOUT_MS = env_int("PORTAL_LIST_COUNT_TIMEOUT_MS", 20)
# A count that reached its limit ("more than 10,000") or its timeout is remembered by the
# process for this long, so the next page of the same filters skips it (0: never remembered).
PORTAL_LIST_COUNT_MEMO_SECONDS = env_int("PORTAL_LIST_COUNT_MEMO_SECONDS", 30)
PORTAL_FRESHNESS_CACHE_SECONDS = env_int("PORTAL_FRESHNESS_CACHE_SECONDS", 5)


def database_config(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)
    if not config["ENGINE"].endswith("postgresql"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://…).")
    return config


DATABASES = {"default": database_config(DATABASE_URL)} if DATABASE_URL else {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: one for every web and worker process -------------------------------
# The service API's rate limit counts here, so it must be shared: by default Django's
# database cache table (made by a migration); CACHE_URL may name redis://… (needs the
# redis package) or memcached://host:port (pymemcache). locmem:// is per process: tests only.
CACHE_URL = env_str("CACHE_URL")


def cache_config(url: str) -> dict:
    scheme, _, rest = url.partition("://")
    if not url:
        return {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "portal_cache",
        }
    if scheme in {"redis", "rediss"}:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if scheme == "memcached":
        return {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache", "LOCATION": rest}
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"CACHE_URL: unknown scheme {scheme!r} (redis, memcached, locmem)")


CACHES = {
    "default": cache_config(CACHE_URL),
    # Per-process memos of figures that cannot change (past days of the start page's charts):
    # reading them must cost no round trip, and each process refilling its own is cheap.
    "local": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "portal-local",
    },
}

# --- Identity -----------------------------------------------------------------
# Single sign-on only (django-allauth's generic OpenID Connect provider, id
# "sso"); there is no local password sign-in or sign-up anywhere.
AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_ADAPTER = "apps.identity.adapters.PortalAccountAdapter"
SOCIALACCOUNT_ADAPTER = "apps.identity.adapters.PortalSocialAccountAdapter"
SOCIALACCOUNT_ONLY = True
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False  # starting a sign-in is a POST (CSRF-protected)
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # users are matched by the IdP's `sub`, never by email
SOCIALACCOUNT_STORE_TOKENS = False
# Session hygiene: an idle session ends after PORTAL_SESSION_IDLE_MINUTES, any
# session after PORTAL_SESSION_MAX_HOURS (apps.identity.middleware).
PORTAL_SESSION_IDLE_MINUTES = env_int("PORTAL_SESSION_IDLE_MINUTES", 30)
PORTAL_SESSION_MAX_HOURS = env_int("PORTAL_SESSION_MAX_HOURS", 12)
SESSION_COOKIE_AGE = PORTAL_SESSION_MAX_HOURS * 3600

# --- Internationalisation ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Display timezone for people whose browser has not told us theirs yet.
PORTAL_DEFAULT_DISPLAY_TIMEZONE = env_str("PORTAL_DEFAULT_DISPLAY_TIMEZONE", "UTC")
PORTAL_LOCALE = env_str("PORTAL_LOCALE", "en_US")
# A banner warns everyone when the event intake is this many seconds behind.
PORTAL_FRESHNESS_WARN_SECONDS = env_int("PORTAL_FRESHNESS_WARN_SECONDS", 60)

# --- Static files -------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / ".local" / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Security headers -------------------------------------------------------
# A strict policy: no inline script or style anywhere; htmx and all assets
# come from our own origin. Directives that need the IdP are widened in
# apps.identity when single sign-on is configured.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Proxies and load balancers probe these over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# A task is acknowledged after it ran, and given back if the worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "approvals-dispatch-due-calls": {
        "task": "apps.approvals.tasks.dispatch_due_calls",
        "schedule": env_float("OUTBOX_SWEEP_SECONDS", 10.0),
    },
    "approvals-expire-overdue-requests": {
        "task": "apps.approvals.tasks.expire_overdue_requests",
        "schedule": 300.0,
    },
    # The tamper check runs on its own: incrementally (from the last checkpoint) every few
    # minutes, and in full every night, so an altered entry shows up without anyone asking.
    "audit-verify-incremental": {
        "task": "apps.audit.tasks.verify_audit_chain",
        "schedule": env_float("AUDIT_VERIFY_MINUTES", 15.0) * 60,
    },
    "audit-verify-full": {
        "task": "apps.audit.tasks.verify_audit_chain",
        "schedule": crontab(hour=3, minute=30),
        "kwargs": {"full": True},
    },
    "identity-clear-expired-sessions": {
        "task": "apps.identity.tasks.clear_expired_sessions",
        "schedule": crontab(hour=4, minute=15),
    },
    "reports-clean-up": {
        "task": "apps.reports.tasks.clean_up_reports",
        "schedule": 900.0,
    },
}
# Beat keeps its schedule in the database (django-celery-beat): the entries above are synced
# into it at start, and managers add report schedules from the portal (apps.reports).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- The Go services' events (shared/contracts/events.md) --------------------
EVENTS_BROKER_URL = env_str("EVENTS_BROKER_URL")  # falls back to CELERY_BROKER_URL
EVENTS_EXCHANGE = env_str("EVENTS_EXCHANGE", "events")
EVENTS_QUEUE = env_str("EVENTS_QUEUE", "portal.events")
EVENTS_INTAKE_ENABLED = env_bool("EVENTS_INTAKE_ENABLED", True)
EVENTS_BATCH_SIZE = env_int("EVENTS_BATCH_SIZE", 1000)
EVENTS_CONSUMERS = env_int("EVENTS_CONSUMERS", 2)
EVENTS_FLUSH_SECONDS = env_float("EVENTS_FLUSH_SECONDS", 0.2)
EVENTS_DELIVERY_LIMIT = env_int("EVENTS_DELIVERY_LIMIT", 20)
# Seconds a batch is held (unacknowledged, retried) while the database is down; then the
# intake gives its messages back, pauses and fails its health file until the database answers.
EVENTS_MAX_HOLD_SECONDS = env_float("EVENTS_MAX_HOLD_SECONDS", 60.0)
EVENTS_HEALTH_FILE = env_str("EVENTS_HEALTH_FILE")  # e.g. /tmp/intake.health; empty: none

# --- The Go services' APIs (shared/contracts/go-apis.md) ---------------------
PAYMENTS_API_URL = env_str("PAYMENTS_API_URL").rstrip("/")
PAYMENTS_API_TOKEN = env_str("PAYMENTS_API_TOKEN")
ACCOUNTS_API_URL = env_str("ACCOUNTS_API_URL").rstrip("/")
ACCOUNTS_API_TOKEN = env_str("ACCOUNTS_API_TOKEN")
GO_API_CONNECT_TIMEOUT = env_float("GO_API_CONNECT_TIMEOUT", 2.0)
GO_API_TIMEOUT = env_float("GO_API_TIMEOUT", 10.0)
GO_API_RETRY_BASE_SECONDS = env_float("GO_API_RETRY_BASE_SECONDS", 1.0)
GO_API_RETRY_MAX_SECONDS = env_float("GO_API_RETRY_MAX_SECONDS", 60.0)
GO_API_MAX_ATTEMPTS = env_int("GO_API_MAX_ATTEMPTS", 8)
# A send holds its call for connect + total + this margin (the lease); see docs/approvals.md.
GO_API_LEASE_MARGIN_SECONDS = env_float("GO_API_LEASE_MARGIN_SECONDS", 5.0)

# --- Single sign-on (shared/contracts/configuration.md) -----------------------
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL").rstrip("/")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "Single sign-on")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
PORTAL_ROLE_GROUPS = env_str("PORTAL_ROLE_GROUPS", "agent=agent,manager=manager,auditor=auditor")
# Scopes asked for at sign-in (space-separated); Okta's org server releases groups only for `groups`.
OIDC_SCOPES = env_str("OIDC_SCOPES").split() or ["openid", "email", "profile"]
# Roles are re-read from the IdP on a person's first request after this many minutes.
PORTAL_ROLE_RECHECK_MINUTES = env_int("PORTAL_ROLE_RECHECK_MINUTES", 10)


def oidc_providers(
    server_url: str,
    client_id: str,
    secret: str,
    name: str,
    scopes: list[str] | tuple[str, ...] = ("openid", "email", "profile"),
) -> dict:
    """allauth's configuration for the one OpenID Connect app, provider id ``sso``.

    PKCE is switched on (allauth leaves it off for the generic provider);
    ``iss`` and ``aud`` of the ID token are verified by allauth against the
    discovery document and the client id; the social account adapter also
    requires that issuer to equal OIDC_SERVER_URL.
    """
    if not server_url:
        return {}
    if "openid" not in scopes:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"OIDC_SCOPES must include openid, got {' '.join(scopes)!r}.")
    return {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": name,
                    "client_id": client_id,
                    "secret": secret,
                    "settings": {
                        "server_url": server_url,
                        "oauth_pkce_enabled": True,
                        "token_auth_method": "client_secret_basic",
                    },
                }
            ],
            "SCOPE": list(scopes),
        }
    }


SOCIALACCOUNT_PROVIDERS = oidc_providers(
    OIDC_SERVER_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_PROVIDER_NAME, OIDC_SCOPES
)
# The sign-in form posts to the portal, which redirects to the IdP: Chromium
# applies form-action to that redirect, so the IdP's origin must be allowed.
if OIDC_SERVER_URL:
    from urllib.parse import urlsplit as _urlsplit

    _idp = _urlsplit(OIDC_SERVER_URL)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] = [SELF, f"{_idp.scheme}://{_idp.netloc}"]

# --- Portal rules -------------------------------------------------------------
REFUND_APPROVAL_THRESHOLDS = env_str("REFUND_APPROVAL_THRESHOLDS")
APPROVAL_REQUEST_EXPIRY_HOURS = env_int("APPROVAL_REQUEST_EXPIRY_HOURS", 72)
APPROVAL_MAX_AUTH_AGE_MINUTES = env_int("APPROVAL_MAX_AUTH_AGE_MINUTES", 15)
# --- Telling managers a request waits (docs/approvals.md, issue 17) ----------
APPROVAL_TARGET_HOURS = env_float("APPROVAL_TARGET_HOURS", 4.0)  # the start page's age target
APPROVAL_WEBHOOK_URL = env_str("APPROVAL_WEBHOOK_URL")  # JSON {"text": …} (Slack/Teams)
APPROVAL_DIGEST_TIME = env_str("APPROVAL_DIGEST_TIME", "08:00")  # HH:MM UTC, daily
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://localhost:8000").rstrip("/")  # links sent out
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Operations Portal <portal@localhost>")
_digest_hour, _digest_minute = (int(part) for part in APPROVAL_DIGEST_TIME.split(":"))
CELERY_BEAT_SCHEDULE["approvals-waiting-digest"] = {
    "task": "apps.approvals.tasks.send_waiting_digest",
    "schedule": crontab(hour=_digest_hour, minute=_digest_minute),
}
SERVICE_API_TOKENS = env_str("SERVICE_API_TOKENS")
# The action log records the client address from REMOTE_ADDR, or from this header
# when (and only when) the deployment's proxies set it, N hops from the right.
PORTAL_CLIENT_IP_HEADER = env_str("PORTAL_CLIENT_IP_HEADER")
PORTAL_TRUSTED_PROXY_COUNT = env_int("PORTAL_TRUSTED_PROXY_COUNT", 1)

# --- Reports and the service API (docs/reports.md, docs/api.md) ------------------------------
REPORTS_RETENTION_DAYS = env_int("REPORTS_RETENTION_DAYS", 7)
REPORTS_TASK_TIME_LIMIT = env_int("REPORTS_TASK_TIME_LIMIT", 3600)


def file_storage(
    local_location: Path,
    *,
    bucket: str,
    prefix: str,
    endpoint_url: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
) -> dict:
    """Files on the local disk, or in an S3-compatible bucket when one is named."""
    if not bucket:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(local_location)},
        }
    options = {
        "bucket_name": bucket,
        "location": prefix,
        "endpoint_url": endpoint_url or None,
        "region_name": region or None,
        "file_overwrite": False,
        "default_acl": None,
    }
    # Without keys, boto3's own chain applies (AWS_* variables, instance or pod role).
    if access_key_id:
        options["access_key"] = access_key_id
        options["secret_key"] = secret_access_key
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


def reports_storage(media_root: Path) -> dict:
    """Report files: the local disk under MEDIA_ROOT, or an S3-compatible bucket when named."""
    return file_storage(
        media_root / "reports",
        bucket=env_str("REPORTS_S3_BUCKET"),
        prefix=env_str("REPORTS_S3_PREFIX", "reports"),
        endpoint_url=env_str("REPORTS_S3_ENDPOINT_URL"),
        region=env_str("REPORTS_S3_REGION"),
        access_key_id=env_str("REPORTS_S3_ACCESS_KEY_ID"),
        secret_access_key=env_str("REPORTS_S3_SECRET_ACCESS_KEY"),
    )


STORAGES["reports"] = reports_storage(MEDIA_ROOT)

# --- The action log's signed digests (docs/audit.md) -------------------------------------------
# Every AUDIT_DIGEST_MINUTES (0: off) a digest of the new entries is signed with the Ed25519 key
# AUDIT_SIGNING_KEY (PEM text, or a file named by AUDIT_SIGNING_KEY_FILE) and stored in
# STORAGES["audit_digests"]: AUDIT_DIGESTS_DIR (default MEDIA_ROOT/audit-digests), or an
# S3-compatible bucket with object lock (AUDIT_DIGESTS_S3_BUCKET, …, like REPORTS_S3_*).
AUDIT_DIGEST_MINUTES = env_float("AUDIT_DIGEST_MINUTES", 60.0)
AUDIT_SIGNING_KEY = env_str("AUDIT_SIGNING_KEY")
if not AUDIT_SIGNING_KEY and env_str("AUDIT_SIGNING_KEY_FILE"):
    try:
        AUDIT_SIGNING_KEY = Path(env_str("AUDIT_SIGNING_KEY_FILE")).read_text()
    except OSError as _error:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"AUDIT_SIGNING_KEY_FILE cannot be read: {_error}") from None
STORAGES["audit_digests"] = file_storage(
    Path(env_str("AUDIT_DIGESTS_DIR", str(MEDIA_ROOT / "audit-digests"))),
    bucket=env_str("AUDIT_DIGESTS_S3_BUCKET"),
    prefix=env_str("AUDIT_DIGESTS_S3_PREFIX", "audit-digests"),
    endpoint_url=env_str("AUDIT_DIGESTS_S3_ENDPOINT_URL"),
    region=env_str("AUDIT_DIGESTS_S3_REGION"),
    access_key_id=env_str("AUDIT_DIGESTS_S3_ACCESS_KEY_ID"),
    secret_access_key=env_str("AUDIT_DIGESTS_S3_SECRET_ACCESS_KEY"),
)
if AUDIT_DIGEST_MINUTES > 0:
    CELERY_BEAT_SCHEDULE["audit-write-digest"] = {
        "task": "apps.audit.tasks.write_audit_digest",
        "schedule": AUDIT_DIGEST_MINUTES * 60,
    }

# Requests per service across every web process (the shared cache), e.g. 600/minute (DRF's syntax).
SERVICE_API_RATE = env_str("SERVICE_API_RATE", "600/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.api.authentication.ServiceTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apps.api.authentication.IsService"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.api.authentication.ServiceRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "apps.api.pagination.NewestFirstPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.api.schema.PortalAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Operations Portal API",
    "DESCRIPTION": "What the Go services may ask the portal. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Logging ------------------------------------------------------------------
LOG_FORMAT = env_str("LOG_FORMAT", "console")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()


def logging_config(log_format: str, level: str) -> dict:
    """JSON lines for machines, a readable line for people; both carry the request id."""
    if log_format not in {"json", "console"}:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be json or console, got {log_format!r}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "portal.request_id.RequestIdLogFilter"}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
            "console": {
                "format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s",
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
            },
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            "pgserver": {"level": "WARNING"},
            "amqp": {"level": "WARNING"},
            "kombu": {"level": "WARNING"},
        },
    }


LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)

PORTAL_ENVIRONMENT = "base"
