"""Work each worker does in the background, on a daemon thread of its own: started by the worker's first request
(a thread started before a fork does not survive it), a tick every interval, stopped by an event."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar


class PeriodicThread(ABC):
    """Runs ``tick`` every ``interval`` seconds in a daemon thread of this process, until stopped."""

    #: The thread's name, as ``ps`` and py-spy show it.
    thread_name: ClassVar[str]

    def __init__(self, interval_seconds: float) -> None:
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Start the thread in this process if it is not running."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish after its tick (safe in a signal handler: it only sets an event)."""
        self._stop.set()

    @abstractmethod
    def tick(self) -> None:
        """One round of the work; it must not raise (a hiccup must not end the thread)."""

    def pause(self, elapsed: float) -> float:
        """How long to wait before the next tick, the last having taken ``elapsed`` seconds: ticks start every
        interval, so a long one delays the next by nothing more than itself."""
        return max(0.0, self.interval - elapsed)

    def run_here(self, until: Callable[[], bool] = lambda: False) -> None:
        """Tick in the calling thread, as the daemon thread would, until stopped or until ``until()`` says so
        (asked before each tick): a process of its own for this work runs it so (anchoring/process.py)."""
        elapsed = 0.0
        while not self._stop.wait(self.pause(elapsed)) and not until():
            started = time.monotonic()
            self.tick()
            elapsed = time.monotonic() - started

    def _run(self) -> None:
        self.run_here()
