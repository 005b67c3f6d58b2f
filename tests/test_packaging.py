"""requirements.txt and the Pipfile name the same pinned packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path


def _requirements(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line} is not pinned"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _pipfile(section: dict[str, str]) -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", name).lower(): spec.removeprefix("==") for name, spec in section.items()}


def test_requirements_and_pipfile_agree(project_root: Path) -> None:
    pipfile = tomllib.loads((project_root / "Pipfile").read_text())
    assert _requirements(project_root / "requirements.txt") == _pipfile(pipfile["packages"])
    assert _requirements(project_root / "requirements-dev.txt") == _pipfile(pipfile["dev-packages"])
