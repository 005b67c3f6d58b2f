"""The anchoring loop each worker runs in the background: a round every ``PROCESS_MEMORY_ANCHOR_SECONDS``, of which
only the lease holder's do anything (anchoring/anchorer.py). Nothing on the append path waits for it."""

from __future__ import annotations

import logging

from process_memory.anchoring.anchorer import Anchorer, RoundReport
from process_memory.background import PeriodicThread
from process_memory.observability import record_anchoring

log = logging.getLogger(__name__)


class AnchoringLoop(PeriodicThread):
    """Runs an anchorer's rounds in a daemon thread of this process."""

    thread_name = "anchoring"

    def __init__(self, anchorer: Anchorer, interval_seconds: float) -> None:
        super().__init__(interval_seconds)
        self.anchorer = anchorer

    def release(self) -> None:
        """Stop, and give up the lease if this process holds it, so that another worker or host anchors at once
        rather than when it expires. Not in a signal handler: it writes to the database."""
        self.stop()
        try:
            self.anchorer.release_lease()
        except Exception as error:  # stopping goes on; the lease then expires on its own
            log.warning("anchoring lease not released: %s", type(error).__name__)

    def tick(self) -> None:
        """One round."""
        self.run_round()

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
