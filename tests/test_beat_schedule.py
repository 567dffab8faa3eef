"""Every task beat is told to send exists, and the housekeeping tasks do their job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.tasks import verify_audit_chain
from apps.identity.tasks import clear_expired_sessions
from portal.celery import app


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{name}: no task {entry['task']}"


def test_the_action_log_is_verified_on_a_schedule_incrementally_and_in_full():
    schedule = settings.CELERY_BEAT_SCHEDULE
    verifications = [e for e in schedule.values() if e["task"].endswith("verify_audit_chain")]
    assert {bool(e.get("kwargs", {}).get("full")) for e in verifications} == {True, False}


def test_the_action_log_is_signed_every_audit_digest_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-write-digest"]
    assert entry["task"] == "apps.audit.tasks.write_audit_digest"
    assert entry["schedule"] == settings.AUDIT_DIGEST_MINUTES * 60 == 3600


@pytest.mark.django_db
def test_the_scheduled_verification_records_its_result():
    verify_audit_chain()
    entry = AuditEntry.objects.get(action="audit.verify")
    assert entry.params["intact"] is True
    assert entry.actor_name == "audit-verify"


@pytest.mark.django_db
def test_expired_sessions_are_cleared():
    now = timezone.now()
    Session.objects.create(session_key="old", session_data="", expire_date=now - timedelta(days=1))
    Session.objects.create(session_key="new", session_data="", expire_date=now + timedelta(days=1))
    clear_expired_sessions()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["new"]
