"""Runs the event intake inside ``celery -A portal worker``.

A worker bootstep that starts :class:`apps.events.intake.EventIntake` on a
thread of the worker's main process after the pool has started, and stops
it (flushing its batch) when the worker shuts down. Set
``EVENTS_INTAKE_ENABLED=false`` for workers that should run tasks only.
This module must import without Django being set up: Celery loads it early.
"""

from __future__ import annotations

import logging
import threading

from celery import bootsteps

logger = logging.getLogger(__name__)


class EventIntakeStep(bootsteps.StartStopStep):
    label = "Event intake"
    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.intake = None
        self.thread: threading.Thread | None = None

    def start(self, worker) -> None:
        from django.conf import settings

        if not settings.EVENTS_INTAKE_ENABLED:
            logger.info("event intake disabled (EVENTS_INTAKE_ENABLED=false)")
            return
        from apps.events.intake import EventIntake, IntakeConfig

        self.intake = EventIntake(IntakeConfig.from_settings())
        self.thread = threading.Thread(target=self.intake.run, name="event-intake", daemon=True)
        self.thread.start()

    def stop(self, worker) -> None:
        if self.intake is None or self.thread is None:
            return
        self.intake.stop()
        self.thread.join(timeout=15)

    shutdown = stop
