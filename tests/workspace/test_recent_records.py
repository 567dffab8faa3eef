"""A person's recently opened records (their start page): one row per record, newest few kept."""

from __future__ import annotations

import pytest

from apps.workspace import services
from apps.workspace.models import RecentRecord


def _open(user, n: int) -> None:
    services.note_record_opened(
        owner=user, kind="payment", record_id=f"id-{n}", label=f"payment {n}", url=f"/p/{n}/"
    )


@pytest.mark.django_db
def test_reopening_a_record_moves_it_to_the_top_without_a_second_row(agent):
    _open(agent, 1)
    _open(agent, 2)
    _open(agent, 1)
    rows = list(RecentRecord.objects.filter(owner=agent).order_by("-opened_at"))
    assert [r.record_id for r in rows] == ["id-1", "id-2"]


@pytest.mark.django_db
def test_only_the_newest_are_kept_per_person(agent, manager):
    _open(manager, 0)
    for n in range(services.RECENT_KEPT + 5):
        _open(agent, n)
    kept = RecentRecord.objects.filter(owner=agent).order_by("-opened_at")
    assert kept.count() == services.RECENT_KEPT
    assert kept.first().record_id == f"id-{services.RECENT_KEPT + 4}"
    assert RecentRecord.objects.filter(owner=manager).count() == 1  # others' history untouched
    _open(agent, 3)  # an old one, trimmed already, comes back at the top
    assert kept.count() == services.RECENT_KEPT
    assert kept.first().record_id == "id-3"
