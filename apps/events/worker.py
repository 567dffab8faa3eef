"""Runs the event intake inside ``celery -A portal worker``.

A worker bootstep that starts :class:`apps.events.intake.EventIntake` on a
thread of the worker's main process after the pool has started, and stops
it (flushing its batch) when the worker shuts down. Set
``EVENTS_INTAKE_ENABLED=false`` for workers that should run tasks only.
With ``EVENTS_HEALTH_FILE`` set it keeps that file current for
``python -m apps.events.health`` (the container's health check).
This module must import without Django being set up: Celery loads it early.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from celery import bootsteps

logger = logging.getLogger(__name__)


class EventIntakeStep(bootsteps.StartStopStep):
    label = "Event intake"
    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.intakes: list = []
        self.threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    def start(self, worker) -> None:
        from django.conf import settings

        if not settings.EVENTS_INTAKE_ENABLED:
            logger.info("event intake disabled (EVENTS_INTAKE_ENABLED=false)")
            return
        from apps.events.intake import EventIntake, IntakeConfig

        config = IntakeConfig.from_settings()
        # Two consumers overlap one's database round trips with the other's parsing.
        for number in range(settings.EVENTS_CONSUMERS):
            intake = EventIntake(config, name=f"{EventIntake.default_name()}/{number}")
            thread = threading.Thread(target=intake.run, name=f"event-intake-{number}", daemon=True)
            thread.start()
            self.intakes.append(intake)
            self.threads.append(thread)
        if settings.EVENTS_HEALTH_FILE:
            threading.Thread(
                target=self._keep_health_file,
                args=(Path(settings.EVENTS_HEALTH_FILE),),
                name="event-intake-health",
                daemon=True,
            ).start()

    def _keep_health_file(self, path: Path) -> None:
        from apps.events.health import WRITE_EVERY_SECONDS

        while not self._stopped.is_set():
            problems = [
                f"{intake.name} {status}"
                for intake, thread in zip(self.intakes, self.threads, strict=True)
                for healthy, status in [intake.health()]
                if not healthy or not thread.is_alive()
            ]
            text = f"unhealthy: {'; '.join(problems)}" if problems else "ok"
            scratch = path.with_name(f".{path.name}.{os.getpid()}")
            scratch.write_text(text + "\n")
            scratch.replace(path)  # atomic: the check never reads half a file
            self._stopped.wait(WRITE_EVERY_SECONDS)

    def stop(self, worker) -> None:
        self._stopped.set()
        for intake in self.intakes:
            intake.stop()
        for thread in self.threads:
            thread.join(timeout=15)

    shutdown = stop
