"""The development IdP's users: one per portal role, a second manager, and one with no role."""

from __future__ import annotations

PASSWORD = "portal-demo"  # noqa: S105 — the development IdP's demo password, printed by the demo

USERS = (
    # username, first, last, groups, what they are for
    ("alice", "Alice", "Agent", ["agent"], "support agent"),
    ("mark", "Mark", "Manager", ["manager"], "manager"),
    ("maria", "Maria", "Manager", ["manager"], "second manager (four eyes above thresholds)"),
    ("olga", "Olga", "Auditor", ["auditor"], "auditor"),
    ("nick", "Nick", "Norole", ["staff"], "no portal role: sees the no-access page"),
)
