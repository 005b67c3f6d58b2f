"""The history service: appends, reads, copies, redaction, verification and proofs over any HistoryStore.

Each job is its own object (appending.py, reading.py, copying.py, redacting.py, verifying.py, trees.py,
proving.py), given the one context they share (context.py) and, where one job needs another, that object.
This class only puts them together; callers use its parts by name: ``history.appender.append_entries(…)``,
``history.reader.read_history(…)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from process_memory.formats import utc_now
from process_memory.history.appending import Appender
from process_memory.history.context import HistoryContext
from process_memory.history.copying import Copier
from process_memory.history.projections import Projection
from process_memory.history.proving import Prover
from process_memory.history.reading import Reader
from process_memory.history.redacting import Redactor
from process_memory.history.store import HistoryStore
from process_memory.history.tail import DEFAULT_MAX_WAITING, DEFAULT_POLL_SECONDS, AppendNotifier
from process_memory.history.trees import TreeKeeper
from process_memory.history.verifying import Verifier
from process_memory.history.wakeups import HostWakeups


class HistoryService:
    """The parts of the history service, each over one shared context."""

    def __init__(
        self,
        store: HistoryStore,
        max_inline_data: int,
        clock: Callable[[], datetime] = utc_now,
        recorder: Callable[[], str | None] = lambda: None,
        projections: Sequence[Projection] = (),
        max_waiting: int = DEFAULT_MAX_WAITING,
        wakeups: HostWakeups | None = None,
        tail_poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        notifier = AppendNotifier(max_waiting, wakeups, tail_poll_seconds)
        self.context = HistoryContext(store, max_inline_data, clock, recorder, list(projections), notifier)
        self.store = store
        self.notifier = self.context.notifier
        self.appender = Appender(self.context)
        self.reader = Reader(self.context)
        self.copier = Copier(self.context, self.appender)
        self.redactor = Redactor(self.context, self.appender, self.reader)
        self.verifier = Verifier(self.context)
        self.trees = TreeKeeper(store)
        self.prover = Prover(self.context)
