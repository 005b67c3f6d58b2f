"""The live tail's signal: who is told of an append, and how readers wait for one.

An append wakes this process's readers at once (a condition), this host's other processes through
``wakeups.py`` (unix datagrams), and other hosts through the store when its database can tell (PostgreSQL's
NOTIFY); readers poll as well, for whatever nothing tells them of. Listeners (metrics) hear of every append.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from process_memory.entry import StoredEntry
from process_memory.history.wakeups import HostWakeups

#: Live-tail readers one process holds at most, unless configured (PROCESS_MEMORY_MAX_TAIL_WAITING).
DEFAULT_MAX_WAITING = 512
#: How often a waiting reader looks again when nothing wakes it, unless configured (PROCESS_MEMORY_TAIL_POLL_MS).
DEFAULT_POLL_SECONDS = 0.2


class AppendNotifier:
    """Tells of appends, and holds the readers waiting for one."""

    def __init__(
        self,
        max_waiting: int = DEFAULT_MAX_WAITING,
        wakeups: HostWakeups | None = None,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        #: Wakes live-tail readers in this host's other processes after an append, and this one's after theirs.
        self.wakeups = wakeups
        self._appended = threading.Condition()
        #: Live-tail readers waiting in this process now, and the most there may be.
        self.waiting = 0
        self.max_waiting = max_waiting
        #: How long a waiting reader waits for a wake-up before it looks again anyway.
        self.poll_seconds = poll_seconds
        #: Told how many live-tail readers start (+1) or stop (-1) waiting (a metric, for one).
        self.waiting_listeners: list[Callable[[int], None]] = []
        #: Called with the entries each successful insert created (metrics, for one).
        self.listeners: list[Callable[[list[StoredEntry]], None]] = []
        #: Set when the process is stopping: every wait ends at once.
        self._stopping = threading.Event()

    def announce(self, created: list[StoredEntry]) -> None:
        """Wake live-tail readers and tell the listeners, once the entries are recorded as ours."""
        if not created:
            return
        self.wake_readers()
        if self.wakeups is not None:
            self.wakeups.announce()
        for listener in self.listeners:
            listener(created)

    def wake_readers(self) -> None:
        """Wake this process's waiting readers, to look again."""
        with self._appended:
            self._appended.notify_all()

    def subscribe(self) -> None:
        """Have this host's other processes wake this one's readers from now on."""
        if self.wakeups is not None:
            self.wakeups.subscribe(self.wake_readers)

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a wake-up."""
        with self._appended:
            self._appended.wait(timeout=timeout)

    def count_waiting(self, change: int) -> None:
        """Count a reader starting (+1) or ending (-1) its wait."""
        with self._appended:
            self.waiting += change
        for listener in self.waiting_listeners:
            listener(change)

    @property
    def stopping(self) -> bool:
        """Whether the process is stopping (no wait may start or go on)."""
        return self._stopping.is_set()

    def stop_waiting(self) -> None:
        """End every live-tail wait now and refuse new ones (the server is stopping)."""
        self._stopping.set()
        self.wake_readers()
