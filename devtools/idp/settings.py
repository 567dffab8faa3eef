"""Settings of the development IdP (a separate Django project)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
ROOT = BASE_DIR.parent.parent
STATE_DIR = Path(os.environ.get("DEVIDP_STATE_DIR", ROOT / ".local" / "devidp"))
STATE_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DEVIDP_SECRET_KEY", "development-idp-only-key")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "idp"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.idp.oidc",
    "devtools.idp",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
ROOT_URLCONF = "devtools.idp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_ADAPTER = "devtools.idp.adapter.ClosedSignupAdapter"
ACCOUNT_EMAIL_VERIFICATION = "none"
# A development IdP on loopback: the tests sign in dozens of times a minute from one address,
# past allauth's default 30 logins a minute per IP.
ACCOUNT_RATE_LIMITS = False
LOGIN_REDIRECT_URL = "/"
SESSION_COOKIE_NAME = "devidp_session"  # never collides with the portal's cookie on 127.0.0.1
CSRF_COOKIE_NAME = "devidp_csrftoken"
IDP_OIDC_ADAPTER = "devtools.idp.adapter.DevIdpAdapter"
IDP_OIDC_RP_INITIATED_LOGOUT_ASKS_FOR_OP_LOGOUT = False


def _private_key() -> str:
    path = Path(os.environ.get("DEVIDP_PRIVATE_KEY_FILE", STATE_DIR / "private-key.pem"))
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
    return path.read_text()


IDP_OIDC_PRIVATE_KEY = _private_key()


def _database_url() -> str:
    explicit = os.environ.get("DEVIDP_DATABASE_URL", "").strip()
    if explicit:
        return explicit
    name = os.environ.get("DEVIDP_DATABASE_NAME", "portal_devidp")
    portal = os.environ.get("DATABASE_URL", "").strip()
    if portal:
        _create_database(urlunsplit(urlsplit(portal)._replace(path="/postgres")), name)
        return urlunsplit(urlsplit(portal)._replace(path=f"/{name}"))
    import sys

    sys.path.insert(0, str(ROOT))
    from portal.embedded_postgres import embedded_database_url

    return embedded_database_url(name)


def _create_database(admin_url: str, name: str) -> None:
    import contextlib

    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{name}"')


DATABASES = {"default": dj_database_url.parse(_database_url())}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DEVIDP_LOG_LEVEL", "WARNING")},
}
