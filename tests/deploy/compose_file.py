"""Reading compose.yaml, the Dockerfile and the code's environment variables, for the tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CALLBACK_PATH = "/accounts/oidc/sso/login/callback/"

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?]([^}]*))?\}")
_ENV_READS = (
    re.compile(r"env_(?:str|int|bool|float|list)\(\s*\"([A-Z][A-Z0-9_]*)\""),
    re.compile(r"environ(?:\.get|\.setdefault)?\(\s*\"([A-Z][A-Z0-9_]*)\""),
    re.compile(r"environ\[\s*\"([A-Z][A-Z0-9_]*)\"\s*\]"),
)


def interpolate(value: Any) -> Any:
    """Compose's ``${NAME:-default}`` with nothing set in the environment: the default."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: m.group(2) or "", value).replace("$$", "$")
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    return value


@cache
def compose() -> dict[str, Any]:
    """compose.yaml with merge keys resolved (PyYAML does) and ``${…}`` replaced by defaults."""
    return interpolate(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def env(service: str) -> dict[str, str]:
    raw = services()[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def command(service: str) -> list[str]:
    value = services()[service]["command"]
    assert isinstance(value, list), f"{service}: write the command as a list (exec form)"
    return [str(part) for part in value]


def option(args: list[str], name: str) -> list[str]:
    """Every value given to ``name`` in an argument list (``--port 8001`` → ``["8001"]``)."""
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == name]


def replace_option(args: list[str], name: str, value: str) -> list[str]:
    out = list(args)
    for i, arg in enumerate(out[:-1]):
        if arg == name:
            out[i + 1] = value
    return out


def healthcheck_code(service: str) -> str:
    """The Python source of a ``["CMD", "python", "-c", code]`` healthcheck."""
    test = services()[service]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], f"{service}: healthcheck is not python -c"
    return test[3]


@dataclass(frozen=True)
class PublishedPort:
    service: str
    host_ip: str
    host_port: int
    container_port: int


def published_ports() -> list[PublishedPort]:
    found = []
    for name, service in services().items():
        for entry in service.get("ports") or []:
            parts = str(entry).split(":")
            assert len(parts) == 3, f"{name}: publish as ip:host:container, got {entry!r}"
            found.append(PublishedPort(name, parts[0], int(parts[1]), int(parts[2])))
    return found


def env_names_read_by(*folders: str) -> set[str]:
    """Environment variable names the Python code under ``folders`` reads."""
    names: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for pattern in _ENV_READS:
                names.update(pattern.findall(text))
    return names


def names_in_markdown(path: Path) -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", path.read_text()))


def dockerfile_stages() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    return re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE | re.IGNORECASE)


def dockerfile_stage_text(stage: str) -> str:
    """The instructions of one build stage (comments left out)."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    parts = re.split(r"^(?=FROM\s)", text, flags=re.MULTILINE)
    for part in parts:
        if re.match(rf"FROM\s+\S+\s+AS\s+{re.escape(stage)}\s*$", part.splitlines()[0], re.I):
            return part
    raise AssertionError(f"no stage {stage!r} in the Dockerfile")
