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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from process_memory.chain import canonical_json
from process_memory.exceptions import Conflict
from process_memory.history.appending import Appender
from process_memory.history.context import HistoryContext
from process_memory.history.entry import NewEntry, StoredEntry, is_erased
from process_memory.history.queries import HistoryQuery
from process_memory.history.reading import Reader

#: The type of the entry that records a redaction; clients cannot append it (api/schemas.py).
REDACTION_TYPE = "redaction"
#: Redaction entries' ids are derived from the instance and seq, so that a retried redaction appends nothing twice.
_REDACTION_IDS = uuid.UUID("8d7c1f3e-4b0a-5e9c-9a51-6f0d2c3b7e41")


def redaction_id(instance_id: str, seq: int) -> str:
    """The id of the redaction entry of the entry at ``seq``."""
    return str(uuid.uuid5(_REDACTION_IDS, f"{instance_id}/{seq}"))


def redacted_seq(data: Any) -> int | None:
    """The seq a redaction entry's data names, or None when it names none."""
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


@dataclass
class RedactionLedger:
    """The redacted entries of a chain being walked in order, until the redaction entry that vouches for each."""

    _unvouched: set[int] = field(default_factory=set)

    def see(self, stored: StoredEntry, data_of: Callable[[StoredEntry], Any]) -> None:
        """Note the next entry: redacted, it waits for its redaction entry; a redaction entry vouches for an earlier
        seq (``data_of`` reads the data of those only)."""
        if stored.redacted_json is not None:
            self._unvouched.add(stored.seq)
        elif stored.type == REDACTION_TYPE:
            named = redacted_seq(data_of(stored))
            if named is not None and named < stored.seq:
                self._unvouched.discard(named)

    def first_unvouched(self) -> int | None:
        """The lowest redacted seq no later redaction entry named, once the whole chain is seen; None when none."""
        return min(self._unvouched, default=None)


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
