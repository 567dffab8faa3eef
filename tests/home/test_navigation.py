"""The left navigation marks the one entry whose page is open: the most specific one."""

from __future__ import annotations

import pytest

from apps.home.navigation import entries_for


def _current(user, path: str) -> list[str]:
    return [entry["label"] for entry in entries_for(user, path) if entry["current"]]


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/", ["Home"]),
        ("/payments/", ["Payments"]),
        ("/payments/refunds/", ["Refunds"]),
        ("/payments/0b581a0a-cf0e-41f8-a44a-e36252238ec0/", ["Payments"]),
        ("/requests/queue/", ["Approvals"]),
        ("/requests/", ["My requests"]),
        ("/search/", []),
    ],
)
def test_the_most_specific_entry_is_current(manager, path, current):
    assert _current(manager, path) == current


def test_each_role_sees_only_what_it_may_open(agent, auditor):
    assert "Approvals" not in [e["label"] for e in entries_for(agent, "/")]
    assert "My requests" not in [e["label"] for e in entries_for(auditor, "/")]
    assert "Reports" in [e["label"] for e in entries_for(auditor, "/")]
