"""The project installs as one package: its pins agree, its wheel holds what it should, its scripts run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa


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


#: What installing the client brings, and nothing more: its HTTP client, its command, its terminal output and the
#: signatures the offline verifier checks.
CLIENT_PACKAGES = {"httpx", "click", "rich", "cryptography"}


def test_requirements_and_pipfile_agree(project_root: Path) -> None:
    pipfile = tomllib.loads((project_root / "Pipfile").read_text())
    client, server = (_requirements(project_root / f"requirements-{part}.txt") for part in ("client", "server"))
    assert set(client) == CLIENT_PACKAGES and not set(client) & set(server)
    assert (project_root / "requirements.txt").read_text().splitlines()[-2:] == [
        "-r requirements-client.txt",
        "-r requirements-server.txt",
    ]
    assert client | server == _pipfile(pipfile["packages"])
    assert _requirements(project_root / "requirements-dev.txt") == _pipfile(pipfile["dev-packages"])


def _wheel_file(archive: zipfile.ZipFile, suffix: str) -> str:
    return archive.read(next(name for name in archive.namelist() if name.endswith(suffix))).decode()


def test_the_wheel_holds_the_package_its_scripts_and_requirements_txt(project_root: Path, tmp_path: Path) -> None:
    # A copy of what the build reads, so that its build/ and egg-info/ stay out of the checkout.
    source = tmp_path / "source"
    shutil.copytree(
        project_root / "process_memory", source / "process_memory", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "requirements-client.txt", "requirements-server.txt", "README.md"):
        shutil.copy(project_root / name, source / name)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path]
    subprocess.run([*pip_wheel, source], check=True, capture_output=True)
    [wheel] = tmp_path.glob("process_memory-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = _wheel_file(archive, ".dist-info/METADATA")
        entry_points = _wheel_file(archive, ".dist-info/entry_points.txt")
    assert "process_memory/entry.py" in names and "process_memory/history/sql/store.py" in names
    assert not [name for name in names if name.split("/")[0] in ("tests", "bench", "tools")]
    required = [
        line.removeprefix("Requires-Dist: ") for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    ]
    base = [spec for spec in required if ";" not in spec]
    extra = [spec.split(";")[0].strip() for spec in required if spec.endswith('extra == "server"')]
    assert len(base) + len(extra) == len(required)
    pins = {_normalise(name): version for name, _, version in (spec.partition("==") for spec in base)}
    assert pins == _requirements(project_root / "requirements-client.txt") and set(pins) == CLIENT_PACKAGES
    server = {_normalise(name): version for name, _, version in (spec.partition("==") for spec in extra)}
    assert server == _requirements(project_root / "requirements-server.txt")
    assert "process-memory-admin = process_memory.cli:admin" in entry_points
    assert "process-memory-nginx = process_memory.deploy:main" in entry_points
    assert "process-memory = process_memory.client.cli:main" in entry_points
    assert "process_memory/ui/templates/timeline.html" in names and "process_memory/ui/static/ui.js" in names
    # Alembic reads the revisions from their directories, and its environment from migrations/.
    revisions = ("history/sql/revisions/h0001_release_1_0.py", "memory/revisions/m0001_release_1_0.py")
    revisions += ("stores/revisions/s0001_release_1_0.py", "migrations/env.py")
    assert [path for path in revisions if f"process_memory/{path}" not in names] == []


def test_the_admin_script_runs_the_operator_commands(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "process-memory-admin"  # `make install` installs the project
    environ = {**os.environ, "PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{tmp_path / 'h.sqlite3'}"}
    done = subprocess.run([script, "history", "init"], env=environ, cwd=tmp_path, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "history schema ready\n")
    assert (
        "process_memory_entries"
        in sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'h.sqlite3'}")).get_table_names()
    )
