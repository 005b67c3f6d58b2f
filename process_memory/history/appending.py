"""Appending: sequence numbers, the hash chain, idempotent retries and the inline/offload threshold.

These are decided here, once, so every backend behaves the same. Without
multi-document transactions, an append is made safe by the store's unique
``(instance_id, seq)`` and ``(instance_id, id)`` constraints: the writer that
inserts a seq first wins, and every other writer re-reads the head and tries
again.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import snappy

from process_memory.chain import canonical_json, sha256_hex
from process_memory.entry import NewEntry, StoredEntry, chain_hash, content_of, posted_fields
from process_memory.exceptions import Conflict, DuplicateEntry, InvalidInput, PreconditionFailed, StoreUnavailable
from process_memory.formats import check_instance_id, format_timestamp
from process_memory.history.context import HistoryContext
from process_memory.history.projections import ProjectedEntries, project
from process_memory.history.store import ChainHead
from process_memory.proofs.trees import InstanceTree

log = logging.getLogger(__name__)

#: Metadata is for small descriptive fields; it always stays inline next to the entry.
MAX_METADATA_BYTES = 256 * 1024
#: How often one append re-reads the head after losing a race before answering 503.
MAX_APPEND_ATTEMPTS = 100

#: One entry's outcome: the entry as stored and whether this call created it.
Outcome = tuple[StoredEntry, bool]


@dataclass
class PreparedEntry:
    """An entry canonicalised as far as it can be before it has a place in the chain."""

    #: Its stored fields but those the chain gives (seq, prev_hash, recorded_at, hash) and the data's place.
    fields: dict[str, Any]
    data_bytes: bytes
    #: False when the server made the id: such an entry cannot exist before this call stores it.
    client_id: bool
    #: What each projection that reads the entry made of it, by projection name.
    readings: dict[str, Any] = field(default_factory=dict)
    blob_ref: str | None = None

    @property
    def id(self) -> str:
        """The entry id."""
        return str(self.fields["id"])

    @property
    def content(self) -> tuple[Any, ...]:
        """What makes two entries with one id the same entry."""
        return content_of(self.fields)


def prepare(instance_id: str, new: NewEntry) -> PreparedEntry:
    """Canonicalise and check a posted entry; raise InvalidInput when it cannot be stored."""
    try:
        data_bytes = canonical_json(new.data)
        fields = posted_fields(new)
    except ValueError:
        raise InvalidInput("data holds a number JSON cannot represent", {"data": ["not finite"]}) from None
    if len(fields["metadata_json"].encode()) > MAX_METADATA_BYTES:
        raise InvalidInput("metadata too large", {"metadata": [f"at most {MAX_METADATA_BYTES} bytes of JSON"]})
    fields.update(
        instance_id=instance_id,
        id=new.id or str(uuid.uuid4()),
        size=len(data_bytes),
        data_sha256=sha256_hex(data_bytes),
    )
    return PreparedEntry(fields, data_bytes, client_id=new.id is not None)


class Appender:
    """Append entries, one or a batch, each idempotent by its id."""

    def __init__(self, context: HistoryContext) -> None:
        self.context = context
        self.store = context.store

    def append_entry(self, instance_id: str, new: NewEntry, expected_head: int | None = None) -> Outcome:
        """Append an entry; return it as stored and whether it was created (False: a safe retry).

        ``expected_head`` is the seq the client believes is the head (-1 for an
        empty instance); another head raises PreconditionFailed.
        """
        [outcome] = self.append_entries(instance_id, [new], expected_head)
        return outcome

    def append_entries(self, instance_id: str, news: list[NewEntry], expected_head: int | None = None) -> list[Outcome]:
        """Append entries in order; return each stored entry and whether this call created it.

        An entry whose id is stored already with the same content is not stored
        again (a batch that failed half-way can be sent again as it was); with
        other content the whole call raises Conflict and stores nothing more.
        New entries go to the store in one round trip per attempt.
        """
        check_instance_id(instance_id)
        prepared = [prepare(instance_id, new) for new in news]
        for projection in self.context.projections:
            for entry, reading in zip(prepared, projection.check(instance_id, news), strict=True):
                if reading is not None:
                    entry.readings[projection.name] = reading
        # An id repeated in one batch follows the rule across requests: same content, one entry; else 409.
        first_of: dict[str, PreparedEntry] = {}
        for entry in prepared:
            if first_of.setdefault(entry.id, entry).content != entry.content:
                raise Conflict("an id appears twice in the batch with other content", {"id": entry.id})
        unique = list(first_of.values())
        outcome = dict(zip([e.id for e in unique], self._append_unique(instance_id, unique, expected_head)))
        results, seen = [], set()
        for entry in prepared:
            stored, created = outcome[entry.id]
            results.append((stored, created and entry.id not in seen))
            seen.add(entry.id)
        return results

    def _append_unique(
        self, instance_id: str, prepared: list[PreparedEntry], expected_head: int | None
    ) -> list[Outcome]:
        """Append entries whose ids are distinct; return their outcomes in order. See append_entries."""
        outcomes: dict[int, Outcome] = {}
        # Offloaded data is ours to delete only while no entry can refer to it: not after an
        # insert whose outcome is unknown (a timeout), which the orphan sweep decides instead.
        in_flight: list[int] = []
        lost_after: int | None = None  # the head the last try linked to, when it lost its seq
        try:
            for attempt in range(MAX_APPEND_ATTEMPTS):
                with self.store.entries.appending(instance_id):
                    # After a lost race our own entries may be stored already, whoever made their ids. Before
                    # the first insert, one entry's id is not looked up: the unique (instance_id, id) key refuses
                    # it if stored, and the retry finds it. A batch's ids are, so that a conflict refuses the
                    # batch before any of it is stored.
                    pending = list(range(len(prepared)))  # the first try of one entry: nothing settled yet
                    if attempt > 0 or len(prepared) > 1:
                        pending = self._settle_existing(instance_id, prepared, outcomes, every_id=attempt > 0)
                    if pending:
                        head = self._head(instance_id, expected_head, lost_after)
                        if expected_head is not None and head.seq != expected_head:
                            # What moved the head may be this very entry, stored by a try whose answer was lost.
                            pending = self._settle_existing(instance_id, prepared, outcomes, every_id=False)
                            if pending:
                                raise PreconditionFailed("the instance's head has moved", {"head": head.seq})
                    if pending:
                        batch, frontier = self._chain(instance_id, head, [prepared[i] for i in pending])
                        in_flight = pending
                        chained = [(stored, prepared[i].readings) for i, stored in zip(pending, batch)]
                        projected = project(self.context.projections, instance_id, chained)
                        inserted = self._insert(batch, projected, frontier)
                        in_flight = []
                        lost_after = head.seq if inserted < len(batch) else None
                if pending:
                    outcomes.update((i, (stored, True)) for i, stored in zip(pending, batch[:inserted]))
                    self.context.notifier.announce(batch[:inserted])
                    if inserted and expected_head is not None:
                        expected_head = batch[inserted - 1].seq  # our own entries moved the head
                if len(outcomes) == len(prepared):
                    return [outcomes[i] for i in range(len(prepared))]
                # Another writer took a seq (or an id): back off, re-read the head, try again.
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
            raise StoreUnavailable("too many concurrent appends to this instance", retry_after=1)
        finally:
            for i, entry in enumerate(prepared):
                created = i in outcomes and outcomes[i][1]
                if entry.blob_ref is not None and not created and i not in in_flight:
                    self._delete_blob_quietly(entry.blob_ref)

    def _settle_existing(
        self, instance_id: str, prepared: list[PreparedEntry], outcomes: dict[int, Outcome], every_id: bool
    ) -> list[int]:
        """Record entries already stored (safe retries); return the positions still to append. Only the ids
        clients made are looked up, unless ``every_id``."""
        pending = [i for i in range(len(prepared)) if i not in outcomes]
        ids = [prepared[i].id for i in pending if every_id or prepared[i].client_id]
        existing = self.store.entries.get_by_ids(instance_id, ids) if ids else {}
        for i in pending:
            found = existing.get(prepared[i].id)
            if found is None:
                continue
            if content_of(vars(found)) != prepared[i].content:
                raise Conflict("an entry with this id exists with other content", {"id": found.id, "seq": found.seq})
            outcomes[i] = (found, False)
        return [i for i in pending if i not in outcomes]

    def _head(self, instance_id: str, expected_head: int | None, lost_after: int | None) -> ChainHead:
        """The head to link to: what the store keeps with the instance, unless that may lag. After a lost race the
        winner has most often moved it on already; if it has not moved past the head the lost try linked to, or
        before refusing a client's expected head, the exact one is read (which costs more reads)."""
        head = self.store.entries.chain_head(instance_id)
        stale = lost_after is not None and head.seq <= lost_after
        if stale or (expected_head is not None and head.seq != expected_head):
            head = self.store.entries.chain_head(instance_id, exact=True)
        return head

    def _chain(
        self, instance_id: str, head: ChainHead, entries: list[PreparedEntry]
    ) -> tuple[list[StoredEntry], dict[int, bytes]]:
        """Give the entries consecutive seqs after ``head`` and link their hashes; return them, and the records
        holding the tree's frontier after the last."""
        seq, prev_hash = head.seq, head.hash
        recorded_at, recorded_by = format_timestamp(self.context.clock()), self.context.recorder()
        tree = InstanceTree(lambda seqs: self.store.trees.tree_hashes(instance_id, seqs), dict(head.frontier))
        chained = []
        for entry in entries:
            if len(entry.data_bytes) > self.context.max_inline_data and entry.blob_ref is None:
                entry.blob_ref = self.store.blobs.put_blob(instance_id, entry.id, snappy.compress(entry.data_bytes))
            seq += 1
            fields = {**entry.fields, "seq": seq, "prev_hash": prev_hash}
            fields.update(recorded_at=recorded_at, recorded_by=recorded_by)
            inline = None if entry.blob_ref else entry.data_bytes.decode()
            entry_hash = chain_hash(fields)
            hashes = tree.hashes_of(seq, entry_hash)
            stored = StoredEntry(**fields, hash=entry_hash, data_json=inline, blob_ref=entry.blob_ref, tree=hashes)
            chained.append(stored)
            prev_hash = stored.hash
        tree.forget_but_the_frontier(seq + 1)
        return chained, tree.kept()

    def _insert(self, batch: list[StoredEntry], projected: list[ProjectedEntries], frontier: dict[int, bytes]) -> int:
        """Insert a chained batch; return how many leading entries were stored (fewer after a lost race)."""
        try:
            self.store.entries.insert_many(batch, projected, frontier)
            inserted = len(batch)
        except DuplicateEntry as clash:
            inserted = clash.inserted
        return inserted

    def _delete_blob_quietly(self, ref: str) -> None:
        try:
            self.store.blobs.delete_blob(ref)
        except Exception:  # the orphan sweep removes it later
            log.warning("could not delete an unused blob; the orphan sweep will")

    def delete_orphan_blobs(self, older_than: timedelta = timedelta(hours=1)) -> int:
        """Delete offloaded data that no entry refers to and that is older than ``older_than``."""
        return self.store.blobs.delete_orphan_blobs(self.context.clock() - older_than)
