"""bench.original, the comparison with the original service, run against stand-ins for the operator's checkouts:
that it serves a checkout with the checkout's own Python on the engine the original expects, loads it and ours in
turn, and reports a branch it could not measure instead of stopping. (The original itself is never built here:
docs/benchmarks.md says why and how an operator runs it.)"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from bench import original
from bench.harness import backend
from tests.services import ferretdb_available, port_open, unavailable

STAND_IN = Path(__file__).parent / "fixtures" / "stand_in_original"


def _checkout(root: Path, name: str, wsgi: Path) -> Path:
    """A directory laid out as an operator's checkout: ``wsgi.py`` and ``.venv/bin/python`` (here, ours)."""
    checkout = root / name
    (checkout / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(wsgi, checkout / "wsgi.py")
    python = checkout / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return checkout


def test_the_comparison_measures_a_checkout_beside_ours_and_says_why_another_was_not(tmp_path: Path) -> None:
    if reason := ferretdb_available():
        unavailable(reason)
    if shutil.which("wrk") is None:
        unavailable("wrk is not installed")
    if port_open(original.ORIGINAL_ENGINE_PORT):
        unavailable(f"port {original.ORIGINAL_ENGINE_PORT}, where the original connects, is taken")
    # A checkout whose service starts but refuses every commit, as master does on an engine without TLS.
    refusing = tmp_path / "refusing.py"
    refusing.write_text(
        "from flask import Flask\nprocess_memory_app = Flask(__name__)\n"
        "process_memory_app.get('/hello')(lambda: 'Hello')\n"
    )
    branches = {
        "fix_reprocess": _checkout(tmp_path, "fix", STAND_IN / "wsgi.py"),
        "master": _checkout(tmp_path, "master", refusing),
    }
    with backend("ferretdb", tmp_path, port=original.ORIGINAL_ENGINE_PORT) as engine:
        rows = original.compare(engine, branches, tmp_path, rounds=1, seconds=1)
    measured = {(row["service"], row["workload"]): row for row in rows if row["branch"] == "fix_reprocess"}
    assert sorted(measured) == [
        ("fix_reprocess", "head reads"),
        ("fix_reprocess", "small commits"),
        ("ours", "head reads"),
        ("ours", "small commits"),
    ]
    for row in measured.values():
        assert row["rate"] > 0 and row["non_2xx"] == 0, row
    assert [row for row in rows if row["branch"] == "master"] == [
        {"engine": "ferretdb", "branch": "master", "error": "a commit was answered 404"}
    ]
    found = original.targets(rows)
    assert [target["what"] for target in found] == [
        "ferretdb: ours ≥ 10× fix_reprocess on small commits",
        "ferretdb: ours ≥ 10× fix_reprocess on head reads",
        "ferretdb: ours ≥ 2× master on small commits",
        "ferretdb: ours ≥ 10× master on head reads",
    ]
    assert [target["figure"].startswith("not measured") for target in found] == [False, False, True, True]
    assert not any(target["met"] for target in found[2:])


def test_checkouts_are_named_by_branch() -> None:
    assert original.checkouts("master=/srv/a fix_reprocess=/srv/b") == {
        "master": Path("/srv/a"),
        "fix_reprocess": Path("/srv/b"),
    }
    for wrong in ("master", "trunk=/srv/a", "master="):
        with pytest.raises(SystemExit, match="PM_ORIGINAL_CHECKOUTS"):
            original.checkouts(wrong)
