"""The anchoring loop in a process of its own, beside gunicorn's workers, which then run no round.

Measured in one stack, with anchoring paused and running in turns (bench.anchoring, docs/benchmarks.md §9): a
round run inside a gevent worker cost the workers about three times the CPU the same round costs in a process of
its own, and appends fell by 8% on PostgreSQL where its own process cost them 5-7% (before its commits stopped
waiting for the flush: anchorer.py). So gunicorn's master starts this
process once it is ready (gunicorn.conf.py), restarts it whenever it exits, and stops it when the master stops;
the process stops by itself once its master is gone. The lease (anchoring/anchorer.py) still keeps one writer
across hosts: each host's process takes it in turn. Served without gunicorn (``flask run``, an app a test
builds), the app's own loop anchors (anchoring/loop.py).

Run: ``python -m process_memory.anchoring.process [PARENT_PID]``, with the service's environment.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from types import FrameType

log = logging.getLogger(__name__)

#: How the master starts the process: this interpreter, this module, and (added) the master's own pid.
COMMAND = (sys.executable, "-m", "process_memory.anchoring.process")
#: How long the master waits before starting the process again after it exited (a crash loop stays slow).
RESTART_SECONDS = 1.0
#: How long a stopping process has to give up its lease before it is killed.
STOP_SECONDS = 10.0


class AnchoringProcess:
    """Keeps one anchoring process running from the calling process: started, restarted when it exits (checked
    every RESTART_SECONDS from a daemon thread), and stopped on request."""

    def __init__(self, command: Sequence[str] = COMMAND, restart_seconds: float = RESTART_SECONDS) -> None:
        self.command = list(command)
        self.restart_seconds = restart_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The running process's id; None before it starts and once stopped."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the process, and the thread that starts it again whenever it exits."""
        self._spawn()
        threading.Thread(target=self._supervise, name="anchoring-process", daemon=True).start()

    def stop(self) -> None:
        """Stop the process (SIGTERM: it gives up its lease first; killed if it outstays STOP_SECONDS) and start it
        no more."""
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._process = subprocess.Popen([*self.command, str(os.getpid())])

    def _supervise(self) -> None:
        while not self._stopping.wait(self.restart_seconds):
            process = self._process
            if process is not None and process.poll() is not None:
                log.warning("anchoring process %d exited with %s; starting it again", process.pid, process.returncode)
                self._spawn()


def main(argv: Sequence[str]) -> None:
    """Anchor as the configured service would, until SIGTERM or SIGINT, or until the parent (its pid the one
    argument; by default, the process's parent now) is gone; then give up the lease."""
    parent = int(argv[0]) if argv else os.getppid()
    from process_memory.app import create_app
    from process_memory.services import services

    anchoring = services(create_app()).anchoring
    if anchoring is None:
        log.warning("anchoring is not configured (a signing key, and PROCESS_MEMORY_ANCHOR_SECONDS > 0)")
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        anchoring.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    anchoring.run_here(until=lambda: os.getppid() != parent)
    anchoring.release()


if __name__ == "__main__":
    main(sys.argv[1:])
