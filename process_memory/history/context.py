"""What every part of the history service shares, explicitly: the store, the clock, who is appending, the
projections, the inline limit and the live tail's notifier; and reading an entry's data back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import snappy

from process_memory.entry import StoredEntry, entry_problem
from process_memory.exceptions import CorruptEntry, NotFound
from process_memory.formats import check_instance_id, utc_now
from process_memory.history.projections import Projection
from process_memory.history.store import HistoryStore
from process_memory.history.summaries import InstanceSummary
from process_memory.history.tail import AppendNotifier


@dataclass
class HistoryContext:
    """The one context the appender, reader, copier, redactor, verifier, tree keeper and prover are given."""

    store: HistoryStore
    #: Data whose canonical JSON is longer than this is compressed and stored out of line.
    max_inline_data: int
    clock: Callable[[], datetime] = utc_now
    #: Names who is appending (the request's API key), for each entry's ``recorded_by``.
    recorder: Callable[[], str | None] = lambda: None
    #: The views kept from the entries (history/projections.py), each with its hook in the store.
    projections: list[Projection] = field(default_factory=list)
    notifier: AppendNotifier = field(default_factory=AppendNotifier)

    def summary(self, instance_id: str) -> InstanceSummary:
        """Return the instance's summary; 404 when it has no entry."""
        summary = self.store.summaries.summary(check_instance_id(instance_id))
        if summary is None:
            raise NotFound("unknown instance", {"instance_id": instance_id})
        return summary

    def data_bytes(self, stored: StoredEntry) -> bytes:
        """Return the canonical JSON of the entry's data, from the entry or its blob."""
        if stored.data_json is not None:
            return stored.data_json.encode()
        if stored.blob_ref is None:
            raise CorruptEntry("entry has no data")
        try:
            return snappy.decompress(self.store.blobs.get_blob(stored.blob_ref))
        except KeyError:
            raise CorruptEntry("the entry's offloaded data is missing") from None
        except Exception:
            raise CorruptEntry("the entry's offloaded data cannot be decompressed") from None

    def data_of(self, stored: StoredEntry) -> Any:
        """Return an entry's data, parsed, wherever it is kept."""
        return json.loads(self.data_bytes(stored))

    def is_intact(self, stored: StoredEntry) -> bool:
        """Whether the entry's data, digest, size and hash agree (its link to the previous entry aside); a redacted
        entry's data must be erased instead (whether its redaction is recorded is the chain walk's business)."""
        try:
            return entry_problem(stored, None if stored.redacted_json else self.data_bytes(stored)) is None
        except (CorruptEntry, ValueError):  # ValueError: metadata that is not JSON
            return False
