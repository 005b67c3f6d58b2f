"""The anchoring process gunicorn's master keeps beside its workers (process_memory/anchoring/process.py): started
again when it exits, stopped on request, and gone of itself once its parent is (gunicorn's hooks in use are in
tests/test_service_log_end_to_end.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from process_memory.anchoring.loop import AnchoringLoop
from process_memory.anchoring.process import AnchoringProcess
from process_memory.proofs.notes import generate_key
from tests.services import ROOT, wait_until

SLEEPER = (sys.executable, "-c", "import time; time.sleep(120)")


def _gone(pid: int) -> bool:
    """Whether the process has ended: absent, or a zombie its new parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_process_that_exits_is_started_again_and_stop_ends_it() -> None:
    keeper = AnchoringProcess(SLEEPER, restart_seconds=0.05)
    keeper.start()
    first = keeper.pid
    assert first is not None and not _gone(first)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: keeper.pid not in (None, first), 10, "the process started again")
    second = keeper.pid
    assert second is not None and not _gone(second)
    keeper.stop()
    assert _gone(second) and keeper.pid is None


def test_run_here_ticks_until_told_and_stops_before_the_tick_it_refuses() -> None:
    ticks: list[int] = []

    class Counting(AnchoringLoop):
        def tick(self) -> None:
            ticks.append(len(ticks))

    Counting(anchorer=None, interval_seconds=0.0).run_here(until=lambda: len(ticks) == 3)  # type: ignore[arg-type]
    assert ticks == [0, 1, 2]


def test_the_anchoring_process_anchors_and_ends_once_its_parent_is_gone(tmp_path: Path) -> None:
    secret, _ = generate_key("pm.process-test")
    (tmp_path / "signing.key").write_text(secret)
    database = tmp_path / "history.sqlite3"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{database}",
        "PROCESS_MEMORY_SIGNING_KEY_FILE": str(tmp_path / "signing.key"),
        "PROCESS_MEMORY_STATE_BACKEND": "memory",
    }
    # A parent that starts it, waits for a line, then exits: the process is left to init.
    parent = subprocess.Popen(
        ["sh", "-c", f"{sys.executable} -m process_memory.anchoring.process $$ >/dev/null 2>&1 & echo $!; read _"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None and parent.stdin is not None
    orphan = int(parent.stdout.readline())
    wait_until(lambda: _lease(database) > 0, 30, "the anchoring process took the lease")
    parent.stdin.close()
    parent.wait(10)
    wait_until(lambda: _gone(orphan), 30, "the orphaned anchoring process ended")
    assert _lease(database) == 0.0  # it gave up the lease as it ended


def _lease(database: Path) -> float:
    """The lease's expiry; -1 before there is one."""
    try:
        with sqlite3.connect(database) as conn:
            rows = conn.execute("SELECT expires_at FROM process_memory_anchor_leases").fetchall()
    except sqlite3.OperationalError:  # no table yet
        return -1.0
    return float(rows[0][0]) if rows else -1.0
