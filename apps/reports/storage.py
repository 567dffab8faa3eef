"""Where report files live: ``STORAGES["reports"]`` (local disk, or an S3-compatible bucket)."""

from __future__ import annotations

from django.core.files.storage import Storage, storages


def reports_storage() -> Storage:
    """Looked up at each use, so a changed setting (tests, a reload) applies at once."""
    return storages["reports"]
