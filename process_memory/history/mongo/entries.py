"""The entries collection on MongoDB: the chain of each instance, its tree hashes, and the search across
instances.

Only what MongoDB, DocumentDB and FerretDB all support is used: single-document atomic writes, unique
compound indexes, explicit sorts. ``data`` and ``metadata`` are kept as canonical JSON strings next to native,
indexed header fields, because neither DocumentDB nor FerretDB accepts every JSON document natively ($ and .
keys, nested arrays, integers beyond 64 bits); docs/storage.md explains the layout.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bson import Binary
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from process_memory.db import KeyedLocks, unavailable_on
from process_memory.entry import StoredEntry
from process_memory.exceptions import DuplicateEntry, StoreUnavailable
from process_memory.history.failures import entry_records_failure
from process_memory.history.mongo.database import FRONTIER, KEYED_FROM, MongoCollections, bounded
from process_memory.history.mongo.documents import (
    after_position,
    any_of,
    entry_document,
    entry_from_document,
    entry_key,
    starting_with,
    type_and_time,
)
from process_memory.history.mongo.projections import MongoProjectionHook
from process_memory.history.mongo.summaries import MongoSummaries
from process_memory.history.projections import ProjectedEntries
from process_memory.history.queries import HistoryQuery, SearchQuery
from process_memory.history.store import ChainHead, EntryLog, SearchIndex, TreeStore
from process_memory.history.summaries import copy_source
from process_memory.paging import SearchPosition

log = logging.getLogger(__name__)

unavailable_on_network_error = unavailable_on(ConnectionFailure)
_DUPLICATE_KEY = 11000
#: How many instances a process remembers having recorded keyed_from for.
_KEYED_REMEMBERED = 100_000


class MongoEntries(EntryLog):
    """The chain of each instance in the entries collection; its summary moved on after each insert."""

    def __init__(
        self,
        collections: MongoCollections,
        summaries: MongoSummaries,
        projection_hooks: dict[str, MongoProjectionHook],
    ) -> None:
        self._collections = collections
        self._summaries = summaries
        #: The projections' hooks by name, as the store attaches them.
        self._projection_hooks = projection_hooks
        #: Instances whose summary has keyed_from, as far as this process knows.
        self._keyed: set[str] = set()
        self._appending = KeyedLocks()

    def appending(self, instance_id: str) -> contextlib.AbstractContextManager[None]:
        """Queue this process's writers of the instance, so that they do not race each other for its next seq
        (each lost race costs a refused insert, the exact head's reads and a back-off); writers in other processes
        still race, and the unique keys decide."""
        return self._appending.held(instance_id)

    @unavailable_on_network_error
    def head(self, instance_id: str) -> StoredEntry | None:
        """Return the entry with the highest seq: the summary's head, and any entry past it, by ``_id``.

        An instance without a summary has no entry (the summary is written
        first). One whose summary has no ``keyed_from`` was written before
        entries were keyed by seq: its head is found by a query on
        ``(instance_id, seq)``, as is any head the keys cannot account for.
        """
        summary = self._collections.summaries().find_one({"_id": instance_id})
        if summary is None:
            return None
        if KEYED_FROM not in summary:
            return self._collections.scan_head(instance_id)
        seq, ahead = summary["head_seq"], None
        while (found := self._collections.entries().find_one({"_id": entry_key(instance_id, seq + 1)})) is not None:
            seq, ahead = seq + 1, found  # an append outran the summary
        if ahead is not None:
            return entry_from_document(ahead)
        if seq < 0:
            return None
        return self._collections.at_seq(instance_id, seq) or self._collections.scan_head(instance_id)

    @unavailable_on_network_error
    def chain_head(self, instance_id: str, exact: bool = False) -> ChainHead:
        """The head an append links to, from the summary alone (one read): its head seq and hash, and the records
        holding the tree's frontier. An append that outran the summary makes the insert lose its seq; the retry
        asks for the ``exact`` head, which looks past the summary (``head``)."""
        if exact:
            return super().chain_head(instance_id)
        summary = self._collections.summaries().find_one({"_id": instance_id})
        if summary is None:  # written before the first entry: no summary, no entry
            return ChainHead(-1, None)
        head_seq, head_hash = summary["head_seq"], summary.get("head_hash")  # FerretDB 1.x drops a null field
        if KEYED_FROM not in summary or (head_seq >= 0 and head_hash is None):
            return super().chain_head(instance_id)
        frontier = {int(seq): bytes(hashes) for seq, hashes in summary.get(FRONTIER, {}).items()}
        return ChainHead(head_seq, head_hash, frontier)

    @unavailable_on_network_error
    def get_by_seq(self, instance_id: str, seq: int) -> StoredEntry | None:
        """Return the entry at ``seq``: by ``_id``, else (an entry from before the keys) by ``(instance_id, seq)``."""
        return self._collections.at_seq(instance_id, seq)

    @unavailable_on_network_error
    def get_by_ids(self, instance_id: str, entry_ids: list[str]) -> dict[str, StoredEntry]:
        """Return the entries with these ids, in one query."""
        if not entry_ids:
            return {}
        criteria = {"instance_id": instance_id, **any_of("id", entry_ids)}
        cursor = bounded(self._collections.entries().find(criteria), len(entry_ids))  # one entry per id at most
        return {doc["id"]: entry_from_document(doc) for doc in cursor}

    @unavailable_on_network_error
    def insert_many(
        self,
        entries: list[StoredEntry],
        projected: Sequence[ProjectedEntries] = (),
        frontier: Mapping[int, bytes] | None = None,
    ) -> None:
        """Announce the projections' parts, insert the entries with one ordered insert_many, then advance the
        summary (with the tree's frontier) and write the projections."""
        first = entries[0]
        announced = [(part, self._projection_hooks[part.projection].announce(part)) for part in projected]
        if first.seq == 0:
            self._create_placeholder(first)
        else:
            self._start_keys(first)
        try:
            self._collections.entries().insert_many([entry_document(entry) for entry in entries], ordered=True)
            stored = len(entries)
        except BulkWriteError as error:
            stored = error.details.get("nInserted", 0)
            if any(e.get("code") != _DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise
            if stored:
                self._advance_summary_quietly(entries[:stored], None)
            elif not self._seq_keyed(first) and not self.get_by_ids(first.instance_id, [e.id for e in entries]):
                # The seq is taken by an entry without its key: one a release before the keys wrote, during an
                # upgrade. The summary learns its head, so reads up to it find such entries.
                self._summaries.repair(first.instance_id)
            raise DuplicateEntry(stored) from None  # what was announced for them stays so: repaired on read
        self._advance_summary_quietly(entries, frontier)
        for part, before in announced:
            self._projection_hooks[part.projection].write(part, before)

    def _seq_keyed(self, entry: StoredEntry) -> bool:
        """Whether an entry is stored under ``entry``'s key (its instance and seq)."""
        return (
            self._collections.entries().find_one({"_id": entry_key(entry.instance_id, entry.seq)}, {"_id": 1})
            is not None
        )

    def _create_placeholder(self, first: StoredEntry) -> None:
        """Create the summary before the first entry exists, so that a crash between the two writes leaves an
        instance that reads repair, never one that listing cannot see; its keys start at 0."""
        placeholder = {
            KEYED_FROM: 0,
            "head_seq": -1,
            "head_hash": None,
            "count": 0,
            "first_recorded_at": first.recorded_at,
            "last_recorded_at": first.recorded_at,
        }
        try:
            self._collections.summaries().update_one(
                {"_id": first.instance_id}, {"$setOnInsert": placeholder}, upsert=True
            )
        except DuplicateKeyError:
            pass  # a concurrent first append created it
        self._keyed.add(first.instance_id)

    def _start_keys(self, first: StoredEntry) -> None:
        """Record in the summary, once, the first seq stored under its key (entries before it may have none)."""
        if first.instance_id in self._keyed:
            return
        self._collections.summaries().update_one(
            {"_id": first.instance_id, KEYED_FROM: {"$exists": False}}, {"$set": {KEYED_FROM: first.seq}}
        )
        if len(self._keyed) >= _KEYED_REMEMBERED:
            self._keyed.clear()
        self._keyed.add(first.instance_id)

    def _advance_summary_quietly(self, stored: list[StoredEntry], frontier: Mapping[int, bytes] | None) -> None:
        try:
            self._advance_summary(stored[0], stored[-1], frontier)
        except PyMongoError as exc:
            # The entries are durable; the summary is repaired when next read.
            log.warning("instance summary not updated (%s); it is repaired on read", type(exc).__name__)

    def _advance_summary(self, first: StoredEntry, entry: StoredEntry, frontier: Mapping[int, bytes] | None) -> None:
        """One conditional update: the head, and the frontier it has when given (else the stale one is dropped:
        the next append reads the trees instead)."""
        progress: dict[str, Any] = {
            "head_seq": entry.seq,
            "head_hash": entry.hash,
            "count": entry.seq + 1,
            "last_recorded_at": entry.recorded_at,
            "head_type": entry.type,
            "head_failed": entry_records_failure(entry),
        }
        if first.seq == 0:
            progress["first_recorded_at"] = first.recorded_at
            kind, source = copy_source(first) or (None, None)
            if source is not None:
                progress |= {"copied_from": source, "copy_kind": kind}
        change: dict[str, Any] = {"$set": progress}
        if frontier is not None:
            progress[FRONTIER] = {str(seq): Binary(hashes) for seq, hashes in frontier.items()}
        else:
            change["$unset"] = {FRONTIER: ""}
        self._collections.summaries().update_one({"_id": entry.instance_id, "head_seq": {"$lt": entry.seq}}, change)

    @unavailable_on_network_error
    def find(self, instance_id: str, query: HistoryQuery) -> list[StoredEntry]:
        """Return one page of entries; only typed, validated values reach the filter."""
        criteria: dict[str, Any] = {"instance_id": instance_id}
        seq_range: dict[str, int] = {}
        if query.after is not None:
            seq_range["$gt"] = query.after
        if query.before is not None:
            seq_range["$lt"] = query.before
        if seq_range:
            criteria["seq"] = seq_range
        criteria.update(type_and_time(query.type, query.since, query.until))
        order = ASCENDING if query.direction == "forward" else DESCENDING
        cursor = bounded(self._collections.entries().find(criteria).sort("seq", order), query.limit)
        return [entry_from_document(doc) for doc in cursor]

    @unavailable_on_network_error
    def types_of(self, instance_id: str, limit: int) -> list[str]:
        """Return the instance's types, in order: one ``distinct``, which MongoDB answers from the
        (instance_id, type, seq) index."""
        types = self._collections.entries().distinct("type", {"instance_id": instance_id})
        return sorted(found for found in types if isinstance(found, str))[:limit]

    def iter_chain(self, instance_id: str) -> Iterator[StoredEntry]:
        """Yield entries by ascending seq; the server caps each batch at 16 MiB."""
        try:
            cursor = (
                self._collections.entries().find({"instance_id": instance_id}).sort("seq", ASCENDING).batch_size(100)
            )
            for doc in cursor:
                yield entry_from_document(doc)
        except ConnectionFailure:
            raise StoreUnavailable() from None

    # -- summaries -----------------------------------------------------------


class MongoTrees(TreeStore):
    """The ``tree`` field of each entry document."""

    def __init__(self, collections: MongoCollections) -> None:
        self._collections = collections

    @unavailable_on_network_error
    def tree_hashes(self, instance_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """Return the ``tree`` of the entries at these seqs, an ``_id`` lookup each (FerretDB 1.x answers no
        ``$in`` from an index); an entry stored before the keys has no tree."""
        found = {}
        for seq in seqs:
            doc = self._collections.entries().find_one({"_id": entry_key(instance_id, seq)}, {"tree": 1})
            if doc is not None and doc.get("tree") is not None:
                found[seq] = bytes(doc["tree"])
        return found

    @unavailable_on_network_error
    def save_trees(self, instance_id: str, trees: dict[int, bytes]) -> None:
        """Set the ``tree`` of existing entries: by key, or by (instance_id, seq) for one stored before keys."""
        entries = self._collections.entries()
        for seq, hashes in trees.items():
            change = {"$set": {"tree": Binary(hashes)}}
            if not entries.update_one({"_id": entry_key(instance_id, seq)}, change).matched_count:
                entries.update_one({"instance_id": instance_id, "seq": seq}, change)
        # The summary's copy of the frontier was read from the trees replaced here: the next append reads them.
        self._collections.summaries().update_one({"_id": instance_id}, {"$unset": {FRONTIER: ""}})


class MongoSearch(SearchIndex):
    """Entries of every instance by recorded time, from the entries' time index."""

    def __init__(self, collections: MongoCollections) -> None:
        self._collections = collections

    @unavailable_on_network_error
    def search(self, query: SearchQuery, position: SearchPosition | None) -> list[StoredEntry]:
        """Search across instances by type and time, in (recorded_at, instance_id, seq) order."""
        # Side by side, not under $and (their fields differ): FerretDB 1.x pushes down no filter under $and.
        criteria = type_and_time(query.type, query.since, query.until)
        if query.within:
            criteria["instance_id"] = starting_with(query.within)
        if position is not None:
            criteria |= after_position(position)
        order = [("recorded_at", ASCENDING), ("instance_id", ASCENDING), ("seq", ASCENDING)]
        return [
            entry_from_document(doc)
            for doc in bounded(self._collections.entries().find(criteria).sort(order), query.limit)
        ]
