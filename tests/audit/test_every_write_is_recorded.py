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


def _service_modules() -> list[list[Path]]:
    """Each app's write layer: ``services.py``, or a ``services/`` package read as one module."""
    modules = [[path] for path in sorted(ROOT.glob("apps/*/services.py"))]
    modules += [sorted(package.glob("*.py")) for package in sorted(ROOT.glob("apps/*/services"))]
    return modules


def _unrecorded() -> list[str]:
    problems = []
    for paths in _service_modules():
        functions: dict[str, tuple[str, ast.FunctionDef]] = {}
        for path in paths:
            module_name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module_name = module_name.removesuffix(".__init__")
            tree = ast.parse(path.read_text())
            for node in tree.body:
                if isinstance(node, ast.FunctionDef):
                    functions[node.name] = (module_name, node)
        # A helper of the same module (or package) that records counts for its callers.
        recording = {
            name for name, (_, node) in functions.items() if _calls(node) & RECORDING_CALLS
        }
        changed = True
        while changed:
            changed = False
            for name, (_, node) in functions.items():
                if name not in recording and _calls(node) & recording:
                    recording.add(name)
                    changed = True
        for name, (module_name, _) in functions.items():
            if name.startswith("_") or name in recording or name in {"record", "not_audited"}:
                continue
            module = importlib.import_module(module_name)
            if getattr(getattr(module, name, None), "not_audited_reason", ""):
                continue
            problems.append(
                f"{module_name}.{name} neither calls apps.audit.services.record() nor is marked "
                "@not_audited(reason=...): record the action it performs, or say why it needs none."
            )
    return problems


def test_every_public_service_function_records_its_action():
    assert _unrecorded() == []
