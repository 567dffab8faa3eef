"""Each settings module loads; production refuses to start without its variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.audit.signing import generate_signing_key_pem

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "portal.settings.production",
    "DJANGO_SECRET_KEY": "x" * 64 + "-a-long-and-random-production-secret-!@#",
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "postgres://portal:secret@db.internal:5432/portal",
    "CELERY_BROKER_URL": "amqp://portal:secret@mq.internal:5672//",
    "AUDIT_SIGNING_KEY": generate_signing_key_pem().decode(),
}


def run_python(
    code: str, env: dict[str, str], *, inherit: bool = False
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; production runs get none of our variables."""
    base = (
        dict(os.environ)
        if inherit
        else {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LOAD = "import django; django.setup(); from django.conf import settings; print(settings.PORTAL_ENVIRONMENT, settings.DATABASES['default']['ENGINE'], settings.DEBUG)"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("portal.settings.development", "development django.db.backends.postgresql True"),
        ("portal.settings.test", "test django.db.backends.postgresql False"),
    ],
)
def test_settings_module_loads(module, expected):
    result = run_python(LOAD, {"DJANGO_SETTINGS_MODULE": module}, inherit=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_production_settings_load_with_every_variable():
    result = run_python(LOAD, PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "production django.db.backends.postgresql False"


def test_production_settings_name_every_missing_variable():
    env = {"DJANGO_SETTINGS_MODULE": "portal.settings.production", "ALLOWED_HOSTS": "x.example"}
    result = run_python(LOAD, env)
    assert result.returncode != 0
    assert "unset or empty: DJANGO_SECRET_KEY, DATABASE_URL, CELERY_BROKER_URL" in result.stderr, (
        result.stderr
    )


def test_production_needs_a_signing_key_while_digests_are_on(tmp_path):
    without_key = {k: v for k, v in PRODUCTION_ENV.items() if k != "AUDIT_SIGNING_KEY"}
    result = run_python(LOAD, without_key)
    assert result.returncode != 0
    assert "unset or empty: AUDIT_SIGNING_KEY" in result.stderr, result.stderr
    assert run_python(LOAD, {**without_key, "AUDIT_DIGEST_MINUTES": "0"}).returncode == 0
    key_file = tmp_path / "audit-signing-key.pem"
    key_file.write_text(PRODUCTION_ENV["AUDIT_SIGNING_KEY"])
    from_file = run_python(LOAD, {**without_key, "AUDIT_SIGNING_KEY_FILE": str(key_file)})
    assert from_file.returncode == 0, from_file.stderr
    not_ed25519 = run_python(LOAD, {**PRODUCTION_ENV, "AUDIT_SIGNING_KEY": "-----BEGIN nonsense"})
    assert "AUDIT_SIGNING_KEY: not an unencrypted PEM private key" in not_ed25519.stderr


def test_production_rejects_a_database_that_is_not_postgresql():
    result = run_python(LOAD, {**PRODUCTION_ENV, "DATABASE_URL": "sqlite:///db.sqlite3"})
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_deploy_check_is_clean_in_production():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        # The browser fixtures set DJANGO_ALLOW_ASYNC_UNSAFE for this process; a deployment must not.
        env={
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            **PRODUCTION_ENV,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_log_format_must_be_json_or_console():
    result = run_python(LOAD, {**PRODUCTION_ENV, "LOG_FORMAT": "xml"})
    assert result.returncode != 0
    assert "LOG_FORMAT must be json or console" in result.stderr
