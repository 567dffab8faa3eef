"""The Celery application: the portal's tasks and (from apps.events) the event intake.

Configuration comes from Django settings prefixed ``CELERY_``; only JSON is
accepted on the wire.
"""

from __future__ import annotations

import os

from celery import Celery

from apps.events.worker import EventIntakeStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.development")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The same worker command consumes the Go services' events (apps.events.intake).
app.steps["worker"].add(EventIntakeStep)
