"""README's witnessed-proofs walkthrough, run as it is written, in a fresh clone of this commit. The venv and the
Go tools this checkout built (`make test` builds both from the registries first) are lent to the clone, its files
dated before them, so that its `make install witness` finds them done rather than downloading them again."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from tests.services import ROOT, port_open, unavailable
from tests.witnesses import witness_available

MARKER = "<!-- walkthrough: witnessed proofs"
PORTS = (8000, 7381, 7382)


def _walkthrough() -> str:
    """The fenced block after the marker in README.md."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(re.escape(MARKER) + r".*?\n```sh\n(.*?)\n```", readme, re.DOTALL)
    assert found, "README.md has the witnessed-proofs walkthrough"
    return found.group(1)


def test_the_witnessed_proofs_walkthrough_runs_from_a_fresh_clone(tmp_path: Path) -> None:
    missing = witness_available()
    if missing:
        unavailable(missing)
    if shutil.which("git") is None or shutil.which("curl") is None:
        unavailable("the walkthrough needs git and curl")
    busy = [port for port in PORTS if port_open(port)]
    if busy:
        unavailable(f"the walkthrough's ports are taken: {busy}")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["find", str(clone), "-exec", "touch", "-h", "-d", "2000-01-01", "{}", "+"], check=True)
    for lent in (".venv", ".cache"):
        (clone / lent).symlink_to(ROOT / lent)
    # Job control, so that the block's `kill %1` stops make run's whole job (gunicorn with it), as in a terminal.
    script = "set -euo pipefail -m\n" + _walkthrough() + "\n"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8"}
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        subprocess.run([str(clone / "tools" / "witness" / "local.sh"), "stop"], cwd=clone, check=False)
    log = (clone / "var" / "run.log").read_text() if (clone / "var" / "run.log").exists() else ""
    assert process.returncode == 0, output + log[-3000:]
    lines = output.splitlines()
    assert any(line.startswith("ok: 1 entries of process-memory/run-7") for line in lines), output
    anchored = [line for line in lines if line.startswith("anchored: the tree at size 1 is leaf ")]
    assert anchored and anchored[0].endswith("cosigned by w1.local, w2.local"), output
    assert not any(line.startswith('{"finding"') for line in lines), output
