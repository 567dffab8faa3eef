"""Test settings: real PostgreSQL (embedded unless ``DATABASE_URL`` is set) and real RabbitMQ.

pytest-django creates ``test_<name>`` on whichever server is in use.
"""

from __future__ import annotations

from portal.env import env_str
from portal.settings.base import *  # noqa: F403
from portal.settings.base import CELERY_BROKER_URL, DATABASE_URL, EVENTS_BROKER_URL, database_config

DEBUG = False
PORTAL_ENVIRONMENT = "test"
SECRET_KEY = "test-only-key"  # noqa: S105
ALLOWED_HOSTS = ["*"]

if not DATABASE_URL:
    from portal.embedded_postgres import embedded_database_url

    DATABASE_URL = embedded_database_url()
DATABASES = {"default": database_config(DATABASE_URL)}
# Tests open and close many connections across threads (live server, workers).
DATABASES["default"]["CONN_MAX_AGE"] = 0

CELERY_BROKER_URL = CELERY_BROKER_URL or "amqp://guest:guest@127.0.0.1:5672//"
EVENTS_BROKER_URL = EVENTS_BROKER_URL or CELERY_BROKER_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests may force_login() a user; the product itself signs people in only through the IdP.
AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "django.contrib.auth.backends.ModelBackend"]  # noqa: F405
LOG_LEVEL = env_str("LOG_LEVEL", "WARNING").upper()
# Tests change the intake's heartbeat and expect the next page to show it; a loaded machine
# must not cut the small counts (the timeout's own tests set theirs).
PORTAL_FRESHNESS_CACHE_SECONDS = 0
PORTAL_LIST_COUNT_TIMEOUT_MS = 1000
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Each test run gets its own task queue (inherited by worker subprocesses it starts), which
# RabbitMQ deletes by itself once idle: parallel runs never consume each other's tasks.
import os  # noqa: E402
import uuid  # noqa: E402

from kombu import Exchange, Queue  # noqa: E402

CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault(
    "PORTAL_TEST_TASK_QUEUE", f"portal-tests-{uuid.uuid4().hex[:12]}"
)
CELERY_TASK_QUEUES = [
    Queue(
        CELERY_TASK_DEFAULT_QUEUE,
        Exchange(CELERY_TASK_DEFAULT_QUEUE),
        routing_key=CELERY_TASK_DEFAULT_QUEUE,
        queue_arguments={"x-expires": 300_000},
    )
]
GO_API_RETRY_BASE_SECONDS = 0.05
GO_API_RETRY_MAX_SECONDS = 0.5
