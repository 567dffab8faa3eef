"""Local development and the demo: everything works with nothing installed.

Without ``DATABASE_URL`` the embedded PostgreSQL starts; without
``CELERY_BROKER_URL`` Celery and the event intake use kombu's SQL transport
on that same embedded database (see docs/operations.md, "Embedded broker"),
so the demo needs no RabbitMQ. Set both variables to use real servers.
"""

from __future__ import annotations

from portal.env import env_list, env_str
from portal.settings.base import *  # noqa: F403
from portal.settings.base import (
    CELERY_BROKER_URL,
    DATABASE_URL,
    EVENTS_BROKER_URL,
    database_config,
    logging_config,
)

DEBUG = True
PORTAL_ENVIRONMENT = "development"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "development-only-key-never-use-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")

if not DATABASE_URL:
    from portal.embedded_postgres import embedded_database_url

    DATABASE_URL = embedded_database_url()
DATABASES = {"default": database_config(DATABASE_URL)}

if not CELERY_BROKER_URL:
    # kombu's SQLAlchemy transport on the embedded database: no broker server.
    CELERY_BROKER_URL = "sqla+" + DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1)
EVENTS_BROKER_URL = EVENTS_BROKER_URL or CELERY_BROKER_URL

LOGGING = logging_config(env_str("LOG_FORMAT", "console"), env_str("LOG_LEVEL", "INFO").upper())

# Mail to managers (a request waits, the daily digest) is printed by the worker, not sent.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
