"""The anchoring loop each worker runs in the background: a round every ``PROCESS_MEMORY_ANCHOR_SECONDS``, of which
only the lease holder's do anything (anchoring/anchorer.py). Nothing on the append path waits for it."""

from __future__ import annotations

import logging
import threading
import time

from process_memory.anchoring.anchorer import Anchorer, RoundReport
from process_memory.observability import record_anchoring

log = logging.getLogger(__name__)


class AnchoringLoop:
    """Runs an anchorer's rounds in a daemon thread of this process."""

    def __init__(self, anchorer: Anchorer, interval_seconds: float) -> None:
        self.anchorer = anchorer
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Start the thread in this process if it is not running (threads do not survive a fork)."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="anchoring", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish after its round (safe in a signal handler: it only sets an event)."""
        self._stop.set()

    def release(self) -> None:
        """Stop, and give up the lease if this process holds it, so that another worker or host anchors at once
        rather than when it expires. Not in a signal handler: it writes to the database."""
        self._stop.set()
        try:
            self.anchorer.release_lease()
        except Exception as error:  # stopping goes on; the lease then expires on its own
            log.warning("anchoring lease not released: %s", type(error).__name__)

    def run_round(self) -> RoundReport | None:
        """One round, its outcome counted; None when it failed (a database or witness hiccup ends no loop)."""
        try:
            report = self.anchorer.run_round()
        except Exception as error:
            log.warning("anchoring round failed: %s", type(error).__name__)
            return None
        if report.held_lease:
            record_anchoring(report.size, {name: refusal.status for name, refusal in report.refusals.items()})
        return report

    def _run(self) -> None:
        # Rounds start every interval, not an interval after the last one ended: a long round under load then
        # delays the next by nothing more than itself.
        elapsed = 0.0
        while not self._stop.wait(max(0.0, self.interval - elapsed)):
            started = time.monotonic()
            self.run_round()
            elapsed = time.monotonic() - started
