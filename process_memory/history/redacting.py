"""Redacting: erasing an entry's data for good while its hash, and so the chain, the tree and every checkpoint
issued before, still verify.

The act is itself recorded: a ``redaction`` entry naming the seq and the reason is appended first, then the
data (and any offloaded blob) is erased and ``redacted: {at, by, reason}`` set on the entry. A redacted entry
verifies exactly when its redaction entry comes later in the chain (:class:`RedactionLedger`, used by
``verify``, import and the offline verifier); otherwise whoever erased it did so behind the service's back.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

from process_memory.chain import canonical_json
from process_memory.entry import NewEntry, StoredEntry, is_erased
from process_memory.exceptions import Conflict
from process_memory.history.appending import Appender
from process_memory.history.context import HistoryContext
from process_memory.history.queries import HistoryQuery
from process_memory.history.reading import Reader
from process_memory.proofs.redactions import REDACTION_TYPE, redaction_id


class Redactor:
    """Erase entries' data, recording each erasure in the chain."""

    def __init__(self, context: HistoryContext, appender: Appender, reader: Reader) -> None:
        self.context = context
        self.store = context.store
        self.appender = appender
        self.reader = reader

    def redact(self, instance_id: str, seq: int, reason: str) -> tuple[StoredEntry, StoredEntry, bool]:
        """Erase the data of the entry at ``seq``; return the entry as it now is, its redaction entry, and whether
        this call redacted it (False: a retry of a redaction already made, for the same reason)."""
        stored = self.reader.get_entry(instance_id, seq)
        if stored.type == REDACTION_TYPE:
            raise Conflict("a redaction entry records an erasure and cannot itself be redacted", {"seq": seq})
        for projection in self.context.projections:
            if projection.is_built_from(stored):
                raise Conflict(
                    f"{projection.description} is built from this entry: it cannot be redacted", {"seq": seq}
                )
        if stored.redacted_json is not None and json.loads(stored.redacted_json).get("reason") != reason:
            raise Conflict("the entry was redacted already, for another reason", {"seq": seq})
        new = NewEntry(type=REDACTION_TYPE, data={"seq": seq, "reason": reason}, id=redaction_id(instance_id, seq))
        [(record, created)] = self.appender.append_entries(instance_id, [new])  # a retry with another reason is a 409
        redacted = {"at": record.recorded_at, "by": record.recorded_by, "reason": reason}
        if stored.redacted_json is None or not is_erased(stored):  # else a retry of a redaction that completed
            self.store.erasure.erase_data(instance_id, seq, canonical_json(redacted).decode())
        return self.reader.get_entry(instance_id, seq), record, created

    def redact_older(self, before: str, entry_type: str | None, reason: str) -> Iterator[tuple[str, int]]:
        """Redact every entry recorded before ``before`` (RFC 3339, as stored), of ``entry_type`` when given, in every
        instance; yield each (instance id, seq) redacted. Redaction entries, entries a projection is built from (memory
        documents) and entries already redacted are left as they are."""
        for instance_id in self._instance_ids():
            query = HistoryQuery(type=entry_type, until=before, limit=1000)
            for stored in self._matching(instance_id, query):
                if stored.type == REDACTION_TYPE or stored.redacted_json is not None:
                    continue
                if any(projection.is_built_from(stored) for projection in self.context.projections):
                    continue
                self.redact(instance_id, stored.seq, reason)
                yield instance_id, stored.seq

    def _instance_ids(self) -> Iterator[str]:
        after: str | None = None
        while page := self.store.summaries.list_summaries(after, 1000):
            for summary in page:
                yield summary.instance_id
            after = page[-1].instance_id

    def _matching(self, instance_id: str, query: HistoryQuery) -> Iterator[StoredEntry]:
        """Every entry of the instance matching ``query``, page by page (redacting appends: pages end at the head
        the first page saw)."""
        last = self.store.entries.head(instance_id)
        after = None
        while page := self.store.entries.find(instance_id, dataclasses.replace(query, after=after)):
            for stored in page:
                if last is None or stored.seq > last.seq:
                    return
                yield stored
            after = page[-1].seq
