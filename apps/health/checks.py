"""Readiness checks: can this process reach what it needs to serve traffic?"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from kombu import Connection


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    duration_ms: float
    error: str = ""

    def as_dict(self) -> dict:
        result = {"ok": self.ok, "duration_ms": round(self.duration_ms, 1)}
        if self.error:
            result["error"] = self.error
        return result


def _timed(name: str, probe) -> CheckResult:
    started = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # any failure means "not ready"; reported by name below
        return CheckResult(name, False, (time.perf_counter() - started) * 1000, _describe(exc))
    return CheckResult(name, True, (time.perf_counter() - started) * 1000)


def _describe(exc: Exception) -> str:
    # Class name and message only: URLs with credentials never reach the response.
    return f"{type(exc).__name__}: {exc}"[:200]


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker_probe(url: str):
    def probe() -> None:
        with Connection(url, connect_timeout=2, transport_options={"max_retries": 0}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)

    return probe


def readiness() -> list[CheckResult]:
    results = [
        _timed("database", _database),
        _timed("broker", _broker_probe(settings.CELERY_BROKER_URL)),
    ]
    if settings.EVENTS_BROKER_URL and settings.EVENTS_BROKER_URL != settings.CELERY_BROKER_URL:
        results.append(_timed("events_broker", _broker_probe(settings.EVENTS_BROKER_URL)))
    return results
