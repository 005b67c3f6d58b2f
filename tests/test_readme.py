"""README.md's shell blocks, run as doctests run examples: every ```sh block, as it is written, in order, each in a
fresh shell, in a fresh clone of this commit. The venv and the Go tools this checkout built (`make test` builds
both from the registries first) are lent to the clone, its files dated before them, so that its `make run` and
`make install witness` find them done rather than downloading them again.

A block runs as a script (``set -euo pipefail``, with job control so that its ``kill %1`` stops a background
``make run`` whole, as in a terminal) and must end with status 0, without an HTTP error status or a JSON error in
what it printed. A block marked ``<!-- readme-test: serves -->`` holds commands that each serve until Ctrl-C: each
is started, must answer ``/healthz``, and is stopped with SIGINT to its process group, as Ctrl-C stops it;
``not run: CMD (why)`` in the marker names a command left out, and why.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.services import ROOT, port_open, unavailable
from tests.witnesses import witness_available

PORTS = (8000, 7381, 7382)
#: A block's bound: the witnessed walkthrough starts two witnesses, a signing service and waits for an anchor.
BLOCK_SECONDS = 240
#: How long a serving command may take to answer, and then to stop after Ctrl-C: gunicorn's master gives its
#: workers graceful_timeout (30 s, gunicorn.conf.py) before it kills them.
SERVE_SECONDS, STOP_SECONDS = 60, 45
#: A block that fails half-way leaves no server behind (job control gives each job its own process group).
_STOP_JOBS_ON_EXIT = "trap 'for job in $(jobs -p); do kill -- -$job 2>/dev/null; done' EXIT\n"
_BLOCK = re.compile(r"(?:<!-- readme-test: (?P<marker>.*?) -->\n)?```sh\n(?P<body>.*?)\n```", re.DOTALL)


@dataclass
class Block:
    """One ```sh block of the README, with its marker's instructions."""

    body: str
    serves: bool
    not_run: tuple[str, ...]

    def commands(self) -> list[str]:
        """The block's commands, one per line (continuations joined), comments and blank lines left out."""
        joined = re.sub(r"\\\n\s*", " ", self.body)
        lines = [line.strip() for line in joined.splitlines()]
        return [line for line in lines if line and not line.startswith("#")]


def readme_blocks() -> list[Block]:
    """Every ```sh block of README.md, in order."""
    blocks = []
    for found in _BLOCK.finditer((ROOT / "README.md").read_text()):
        marker = found["marker"] or ""
        not_run = tuple(match.strip() for match in re.findall(r"not run: ([^(;]+)", marker))
        blocks.append(Block(found["body"], marker.startswith("serves"), not_run))
    return blocks


def _shell(clone: Path, env: dict[str, str], script: str) -> subprocess.Popen[str]:
    """Start ``script`` in bash in the clone, in a process group of its own (so that it and all it started can be
    signalled at once), its output and errors together."""
    return subprocess.Popen(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _run_script(clone: Path, env: dict[str, str], body: str) -> tuple[int, str]:
    process = _shell(clone, env, _STOP_JOBS_ON_EXIT + "set -euo pipefail -m\n" + body + "\n")
    try:
        output, _ = process.communicate(timeout=BLOCK_SECONDS)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, output


def _serve_and_stop(clone: Path, env: dict[str, str], command: str) -> str:
    """Start a serving command, see it answer, and stop it as Ctrl-C does; what it printed, on failure."""
    process = _shell(clone, env, command)
    try:
        deadline = time.monotonic() + SERVE_SECONDS
        answered = False
        while not answered and process.poll() is None and time.monotonic() < deadline:
            try:
                answered = httpx.get("http://127.0.0.1:8000/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=STOP_SECONDS)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert answered, f"{command!r} did not serve /healthz within {SERVE_SECONDS} s:\n{output[-3000:]}"
    # Its workers, in the same process group, stop with it: the port is free again within the bound.
    deadline = time.monotonic() + STOP_SECONDS
    while port_open(8000) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not port_open(8000), f"{command!r} still holds port 8000 {STOP_SECONDS} s after Ctrl-C"
    return output


def test_the_readme_marks_its_blocks_as_this_test_reads_them() -> None:
    blocks = readme_blocks()
    assert len(blocks) == 5, [block.body[:40] for block in blocks]
    assert [block.serves for block in blocks] == [True, False, False, False, True]
    assert blocks[0].not_run == ("make test",)
    assert blocks[0].commands()[0].startswith("make run")
    assert [len(block.commands()) for block in blocks if block.serves] == [2, 2]


def test_every_block_of_the_readme_runs_as_written_from_a_fresh_clone(tmp_path: Path) -> None:
    missing = witness_available()
    if missing:
        unavailable(missing)
    if shutil.which("git") is None or shutil.which("curl") is None:
        unavailable("the README's blocks need git and curl")
    busy = [port for port in PORTS if port_open(port)]
    if busy:
        unavailable(f"the README's ports are taken: {busy}")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["find", str(clone), "-exec", "touch", "-h", "-d", "2000-01-01", "{}", "+"], check=True)
    for lent in (".venv", ".cache"):
        (clone / lent).symlink_to(ROOT / lent)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8"}
    outputs: list[str] = []
    try:
        for number, block in enumerate(readme_blocks(), start=1):
            if block.serves:
                for command in block.commands():
                    if not any(command.startswith(left_out) for left_out in block.not_run):
                        _serve_and_stop(clone, env, command)
                outputs.append("")
                continue
            status, output = _run_script(clone, env, block.body)
            log = (clone / "var" / "run.log").read_text() if (clone / "var" / "run.log").exists() else ""
            assert status == 0, f"block {number} ended with {status}:\n{output}\n{log[-3000:]}"
            assert not re.search(r"HTTP/1\.1 [45]\d\d", output), f"block {number}:\n{output}"
            assert not re.search(r'"error":\s*\{', output), f"block {number}:\n{output}"
            outputs.append(output)
    finally:
        subprocess.run([str(clone / "tools" / "witness" / "local.sh"), "stop"], cwd=clone, check=False)
    try_it, proofs, witnessed = outputs[1], outputs[2], outputs[3]
    assert re.search(r'"ok":\s*true', try_it) and re.search(r'"checked":\s*2\b', try_it), try_it
    # A body ends without a newline, so a status line may follow one on the same line.
    assert len(re.findall(r"HTTP/1\.1 200", try_it)) == 1, try_it  # the state's replacement
    assert len(re.findall(r"HTTP/1\.1 201", try_it)) == 1, try_it  # and its creation
    assert re.search(r"^ok: 2 entries of process-memory/3f1c2a9e-6d7b-4c1e-9a55-0b8f2d7e4c10\b", proofs, re.M), proofs
    lines = witnessed.splitlines()
    assert any(line.startswith("ok: 1 entries of process-memory/run-7") for line in lines), witnessed
    anchored = [line for line in lines if line.startswith("anchored: the tree at size 1 is leaf ")]
    assert anchored and anchored[0].endswith("cosigned by w1.local, w2.local"), witnessed
    # And the monitor found nothing: a finding is its exit status 1, which would have stopped the block.
