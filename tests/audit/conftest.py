"""Signed digests switched on for a test: a fresh Ed25519 key and a digest store of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.audit.signing import generate_signing_key_pem


@pytest.fixture
def digests_on(settings, tmp_path) -> Path:
    """The digest store's directory (the key is in ``settings.AUDIT_SIGNING_KEY``)."""
    store = tmp_path / "digest-store"
    settings.AUDIT_SIGNING_KEY = generate_signing_key_pem().decode()
    settings.AUDIT_DIGEST_MINUTES = 60
    settings.STORAGES = {
        **settings.STORAGES,
        "audit_digests": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(store)},
        },
    }
    return store
