"""(d) The offline verifier runs in a clean virtualenv holding only ``cryptography``.

An auditor copies one file; nothing of Django or the portal comes with it.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apps.audit import offline_verify
from apps.audit.services import write_digest
from tests.audit.test_digests import append, export_for_auditor, superuser_rewrite

VERIFIER = Path(offline_verify.__file__)


def test_the_verifier_imports_only_the_standard_library_and_cryptography():
    tree = ast.parse(VERIFIER.read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    outside = {name for name in imported if name not in sys.stdlib_module_names}
    assert outside == {"cryptography"}


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory) -> Path:
    """``python3 -m venv`` (no system site-packages) with ``cryptography`` and nothing else."""
    venv = tmp_path_factory.mktemp("auditor") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", str(python), "cryptography"],
        check=True,
        timeout=300,
    )
    return python


def _run(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.mark.django_db
def test_an_auditor_checks_the_log_on_a_machine_with_only_cryptography(
    clean_python, digests_on, tmp_path
):
    append(5)
    write_digest()
    append(2)
    write_digest()
    export, digests, key = export_for_auditor(tmp_path / "intact")
    machine = tmp_path / "auditors-machine"
    (machine / "apps" / "audit").mkdir(parents=True)
    shutil.copy(VERIFIER, machine / "apps" / "audit" / "offline_verify.py")
    shutil.copy(VERIFIER, machine / "offline_verify.py")
    assert _run(clean_python, machine, "-c", "import django").returncode != 0

    as_module = _run(
        clean_python,
        machine,
        "-m",
        "apps.audit.offline_verify",
        str(export),
        str(digests),
        "--public-key",
        str(key),
    )
    assert as_module.returncode == 0, as_module.stdout + as_module.stderr
    assert as_module.stdout.startswith("OK: ")

    superuser_rewrite(4, "quietly changed")
    export, digests, key = export_for_auditor(tmp_path / "rewritten")
    as_file = _run(
        clean_python,
        machine,
        "offline_verify.py",
        str(export),
        str(digests),
        "--public-key",
        str(key),
    )
    assert as_file.returncode == 1
    assert as_file.stdout.startswith("FAILED: entry #4 is not what digest #1 signed")
