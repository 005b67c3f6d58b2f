"""requirements.txt and the Pipfile name the same pinned packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any


def _requirements(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line} is not pinned"
            pins[_normalise(name)] = version
    return pins


def _normalise(name: str) -> str:
    """PEP 503 name without extras: psycopg[binary] and psycopg are one package."""
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def _pipfile(section: dict[str, Any]) -> dict[str, str]:
    pins = {}
    for name, spec in section.items():
        version = spec if isinstance(spec, str) else spec["version"]
        pins[_normalise(name)] = version.removeprefix("==")
    return pins


def test_requirements_and_pipfile_agree(project_root: Path) -> None:
    pipfile = tomllib.loads((project_root / "Pipfile").read_text())
    assert _requirements(project_root / "requirements.txt") == _pipfile(pipfile["packages"])
    assert _requirements(project_root / "requirements-dev.txt") == _pipfile(pipfile["dev-packages"])
