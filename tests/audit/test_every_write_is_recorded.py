"""Every public service function records its action — or says why it writes nothing a person did."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDING_CALLS = {"record", "_refuse"}


def _calls(node: ast.AST) -> set[str]:
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names


def _unrecorded() -> list[str]:
    problems = []
    for path in sorted(ROOT.glob("apps/*/services.py")):
        module_name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(module_name)
        tree = ast.parse(path.read_text())
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        # A helper of the same module that records counts for its callers.
        recording = {name for name, node in functions.items() if _calls(node) & RECORDING_CALLS}
        changed = True
        while changed:
            changed = False
            for name, node in functions.items():
                if name not in recording and _calls(node) & recording:
                    recording.add(name)
                    changed = True
        for name in functions:
            if name.startswith("_") or name in recording or name in {"record", "not_audited"}:
                continue
            if getattr(getattr(module, name, None), "not_audited_reason", ""):
                continue
            problems.append(
                f"{module_name}.{name} neither calls apps.audit.services.record() nor is marked "
                "@not_audited(reason=...): record the action it performs, or say why it needs none."
            )
    return problems


def test_every_public_service_function_records_its_action():
    assert _unrecorded() == []
