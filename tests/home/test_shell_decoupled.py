"""The shell and the read-model pages know no workflow app: those contribute through the registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from apps.home import registry

ROOT = Path(__file__).resolve().parents[2]
# The event intake (freshness banner) is infrastructure below the shell, not a workflow.
WORKFLOW_APPS = ("apps.approvals", "apps.audit", "apps.reports", "apps.workspace")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "apps" / "home").rglob("*.py")), ids=str)
def test_the_shell_imports_no_workflow_app(path):
    offending = {m for m in imported_modules(path) if m.startswith(WORKFLOW_APPS)}
    assert offending == set()


@pytest.mark.parametrize("app", ["payments", "accounts"])
def test_record_pages_get_request_panels_without_importing_approvals(app):
    modules = imported_modules(ROOT / "apps" / app / "views.py")
    assert not {m for m in modules if m.startswith("apps.approvals")}


def test_each_app_contributes_its_part():
    assert "approvals:queue" in registry.registered("badges")
    assert set(registry.registered("cards")) >= {
        "approvals.requester",
        "approvals.manager",
        "audit.auditor",
        "events.intake",
        "workspace.recent",
    }
    assert set(registry.registered("search")) == {
        "payments",
        "refunds",
        "accounts",
        "requests",
        "action-log",
    }
    assert set(registry.registered("panels")) == {"payment", "account"}
