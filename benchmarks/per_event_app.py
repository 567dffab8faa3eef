"""The reference article's design, for comparison only: one Celery task per event, ``update_or_create``.

Never used by the portal. Run by ``benchmarks.ingestion``.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

import django
from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
django.setup()

from django.utils import timezone  # noqa: E402

from apps.accounts.models import Account  # noqa: E402
from apps.payments.models import Payment, Refund  # noqa: E402

app = Celery("per_event_benchmark")
app.config_from_object("django.conf:settings", namespace="CELERY")
QUEUE = os.environ.get("BENCH_PER_EVENT_QUEUE", "bench.per-event")
app.conf.task_default_queue = QUEUE
app.conf.task_queues = [Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)]

MODELS = {
    "account": (Account, "account_id"),
    "payment": (Payment, "payment_id"),
    "refund": (Refund, "refund_id"),
}
FOREIGN = {"payment": ("account_id",), "refund": ("payment_id",)}


@app.task(name="benchmark.apply_event")
def apply_event(event: dict) -> None:
    kind = event["type"].split(".")[0]
    model, pk = MODELS[kind]
    data = dict(event["data"])
    for name in ("created_at", "updated_at"):
        data[name] = datetime.fromisoformat(data[name])
    identity = uuid.UUID(data.pop(pk))
    model.objects.update_or_create(
        pk=identity,
        defaults={**data, "sequence": event["sequence"], "synced_at": timezone.now()},
    )


@app.task(name="benchmark.done")
def done(marker: str) -> None:
    Path(marker).write_text("done")
