"""What every part of the history service shares: the store, the clock, the inline limit,
the listeners and the live-tail signal, and reading an entry's data back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import snappy

from process_memory.chain import CanonicalJSON, canonical_json
from process_memory.exceptions import CorruptEntry, NotFound
from process_memory.formats import check_instance_id, utc_now
from process_memory.history.entry import StoredEntry, entry_json, entry_problem, shown_entry
from process_memory.history.projections import Projection
from process_memory.history.store import HistoryStore, InstanceSummary
from process_memory.history.wakeups import HostWakeups

#: Marks "data not given" where JSON null is a valid value.
UNSET: Any = object()


class HistoryCore:
    """The state the appending, reading, copying and verifying parts of the service work on."""

    def __init__(
        self,
        store: HistoryStore,
        max_inline_data: int,
        clock: Callable[[], datetime] = utc_now,
        recorder: Callable[[], str | None] = lambda: None,
        projections: Sequence[Projection] = (),
        max_waiting: int = 512,
        wakeups: HostWakeups | None = None,
    ) -> None:
        self.store = store
        #: Wakes live-tail readers in this host's other processes after an append, and this one's after theirs.
        self.wakeups = wakeups
        #: Data whose canonical JSON is longer than this is compressed and stored out of line.
        self.max_inline_data = max_inline_data
        self.clock = clock
        #: Names who is appending (the request's API key), for each entry's ``recorded_by``.
        self.recorder = recorder
        #: The views kept from the entries (history/projections.py), each with its hook in the store.
        self.projections = list(projections)
        # Wakes live-tail readers in this process at once (other processes' appends through wakeups, or polled).
        self._appended = threading.Condition()
        #: Live-tail readers waiting in this process now, and the most there may be.
        self.waiting = 0
        self.max_waiting = max_waiting
        #: Told how many live-tail readers start (+1) or stop (-1) waiting (a metric, for one).
        self.waiting_listeners: list[Callable[[int], None]] = []
        #: Set when the process is stopping: every wait ends at once.
        self._stopping = threading.Event()
        #: Called with the entries each successful insert created (metrics, for one).
        self.listeners: list[Callable[[list[StoredEntry]], None]] = []

    def _summary(self, instance_id: str) -> InstanceSummary:
        """Return the instance's summary; 404 when it has no entry."""
        summary = self.store.summary(check_instance_id(instance_id))
        if summary is None:
            raise NotFound("unknown instance", {"instance_id": instance_id})
        return summary

    def _data_bytes(self, stored: StoredEntry) -> bytes:
        """Return the canonical JSON of the entry's data, from the entry or its blob."""
        if stored.data_json is not None:
            return stored.data_json.encode()
        if stored.blob_ref is None:
            raise CorruptEntry("entry has no data")
        try:
            return snappy.decompress(self.store.get_blob(stored.blob_ref))
        except KeyError:
            raise CorruptEntry("the entry's offloaded data is missing") from None
        except Exception:
            raise CorruptEntry("the entry's offloaded data cannot be decompressed") from None

    def _render(self, stored: StoredEntry, data: Any = UNSET) -> dict[str, Any]:
        """Return the entry as the API shows it, reading its data unless the caller has it."""
        return shown_entry(stored, json.loads(self._data_bytes(stored)) if data is UNSET else data)

    def render_json(self, stored: StoredEntry, data: Any = UNSET) -> bytes:
        """Return the entry as the API shows it, as JSON text made from its canonical JSON.

        An appender passes the data it posted (the same bytes as stored: the data's digest is part of an
        entry's content), which spares reading offloaded data back.
        """
        # Text in hand is used as it is; a parsed value only when the other way is reading offloaded data back.
        known = data is not UNSET and (stored.data_json is None or isinstance(data, CanonicalJSON))
        return entry_json(stored, canonical_json(data) if known else self._data_bytes(stored))

    def _is_intact(self, stored: StoredEntry) -> bool:
        """Whether the entry's data, digest, size and hash agree (its link to the previous entry aside); a redacted
        entry's data must be erased instead (whether its redaction is recorded is the chain walk's business)."""
        try:
            return entry_problem(stored, None if stored.redacted_json else self._data_bytes(stored)) is None
        except (CorruptEntry, ValueError):  # ValueError: metadata that is not JSON
            return False

    def _count_waiting(self, change: int) -> None:
        with self._appended:
            self.waiting += change
        for listener in self.waiting_listeners:
            listener(change)

    def _wake_readers(self) -> None:
        with self._appended:
            self._appended.notify_all()

    def stop_waiting(self) -> None:
        """End every live-tail wait now and refuse new ones (the server is stopping)."""
        self._stopping.set()
        with self._appended:
            self._appended.notify_all()
