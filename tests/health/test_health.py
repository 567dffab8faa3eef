"""Health probes against the real database and broker."""

from __future__ import annotations

import pytest


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any database access in the view would raise here.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_readyz_reports_each_check_when_everything_is_up(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
def test_readyz_is_503_and_names_the_dead_broker(client, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    settings.EVENTS_BROKER_URL = settings.CELERY_BROKER_URL
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert "guest" not in body["checks"]["broker"]["error"]  # no credentials leak


@pytest.mark.django_db
def test_readyz_checks_a_separate_events_broker(client, settings):
    settings.EVENTS_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["events_broker"]["ok"] is False


def test_probes_need_no_sign_in_and_refuse_writes(client):
    assert client.post("/healthz").status_code == 405
