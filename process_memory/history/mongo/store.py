"""MongoHistoryStore: history on MongoDB, AWS DocumentDB or FerretDB.

Only what all three support is used: single-document atomic writes, unique
compound indexes, explicit sorts, GridFS. ``data`` and ``metadata`` are kept as
canonical JSON strings next to native, indexed header fields, because neither
DocumentDB nor FerretDB accepts every JSON document natively ($ and . keys,
nested arrays, integers beyond 64 bits); docs/storage.md explains the layout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bson import Binary
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from process_memory.db import ProcessLocal, unavailable_on
from process_memory.exceptions import DuplicateEntry, StoreUnavailable
from process_memory.history.entry import StoredEntry
from process_memory.history.mongo.blobs import MongoBlobs
from process_memory.history.mongo.documents import (
    after_position,
    create_indexes,
    entry_document,
    entry_from_document,
    entry_key,
    starting_with,
    summary_from_document,
    type_and_time,
)
from process_memory.history.mongo.projections import MongoProjectionHook
from process_memory.history.projections import ProjectedEntries
from process_memory.history.store import HistoryQuery, HistoryStore, InstanceSummary, SearchQuery
from process_memory.paging import SearchPosition

log = logging.getLogger(__name__)


_unavailable_on_network_error = unavailable_on(ConnectionFailure)
_DUPLICATE_KEY = 11000
#: The summary's record of the first seq stored under its key (documents.entry_key).
_KEYED_FROM = "keyed_from"
#: How many instances a process remembers having recorded keyed_from for.
_KEYED_REMEMBERED = 100_000


class MongoHistoryStore(MongoBlobs, HistoryStore):
    """History entries in one collection, summaries in another, large data in GridFS; projections' collections
    beside them."""

    def __init__(
        self,
        uri: str,
        database_name: str,
        collection: str,
        timeout_ms: int = 5000,
        client_factory: Callable[..., MongoClient[Any]] = MongoClient,
    ) -> None:
        self._uri = uri
        self._database_name = database_name
        self._collection_name = collection
        self._projection_hooks: dict[str, MongoProjectionHook] = {}
        self._timeout_ms = timeout_ms
        self._client_factory = client_factory
        # One client per process, opened on first use: a client made before gunicorn forks is never used by a child.
        self._client = ProcessLocal(self._create_client, self._create_indexes)
        #: Instances whose summary has keyed_from, as far as this process knows.
        self._keyed: set[str] = set()

    # -- connection ----------------------------------------------------------

    def _create_client(self) -> MongoClient[Any]:
        return self._client_factory(
            self._uri,
            serverSelectionTimeoutMS=self._timeout_ms,
            connectTimeoutMS=self._timeout_ms,
            socketTimeoutMS=max(self._timeout_ms * 6, 30_000),
            retryWrites=False,
            w="majority",
            appname="process-memory",
            connect=False,
        )

    @property
    def collection_name(self) -> str:
        """The entries' collection; every other collection of the store is named after it."""
        return self._collection_name

    def database(self) -> Database[Any]:
        """This process's handle on the store's database (projections' hooks and indexes use it too)."""
        return self._client.get()[self._database_name]

    def _database(self) -> Database[Any]:
        return self.database()

    def attach_projection(self, name: str, hook: object) -> None:
        """Keep the projection ``name`` through ``hook`` (a MongoProjectionHook): announced before every insert,
        written after it."""
        if not isinstance(hook, MongoProjectionHook):
            raise TypeError(
                f"a MongoDB store keeps a projection through a MongoProjectionHook, not {type(hook).__name__}"
            )
        self._projection_hooks[name] = hook

    def _entries(self) -> Collection[Any]:
        return self._database()[self._collection_name]

    def _summaries(self) -> Collection[Any]:
        return self._database()[f"{self._collection_name}_instances"]

    def _create_indexes(self, client: MongoClient[Any]) -> None:
        create_indexes(client[self._database_name][self._collection_name])
        for hook in self._projection_hooks.values():
            hook.create_indexes(client[self._database_name])

    @_unavailable_on_network_error
    def ensure_schema(self) -> None:
        """Create the collections' indexes now rather than on first use."""
        self._client.prepare_again()

    @_unavailable_on_network_error
    def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers a ping."""
        self._database().command("ping")

    def describe(self) -> str:
        """Name the hosts, database and collection, without credentials."""
        hosts = self._uri.split("@")[-1].split("/")[0]
        return f"MongoDB-compatible database {hosts}, {self._database_name}.{self._collection_name}"

    def close(self) -> None:
        """Close this process's client."""
        client = self._client.discard()
        if client is not None:
            client.close()

    # -- entries -------------------------------------------------------------

    @_unavailable_on_network_error
    def head(self, instance_id: str) -> StoredEntry | None:
        """Return the entry with the highest seq: the summary's head, and any entry past it, by ``_id``.

        An instance without a summary has no entry (the summary is written
        first). One whose summary has no ``keyed_from`` was written before
        entries were keyed by seq: its head is found by a query on
        ``(instance_id, seq)``, as is any head the keys cannot account for.
        """
        summary = self._summaries().find_one({"_id": instance_id})
        if summary is None:
            return None
        if _KEYED_FROM not in summary:
            return self._scan_head(instance_id)
        seq, ahead = summary["head_seq"], None
        while (found := self._entries().find_one({"_id": entry_key(instance_id, seq + 1)})) is not None:
            seq, ahead = seq + 1, found  # an append outran the summary
        if ahead is not None:
            return entry_from_document(ahead)
        if seq < 0:
            return None
        return self._at_seq(instance_id, seq) or self._scan_head(instance_id)

    def _head_for_repair(self, instance_id: str) -> StoredEntry | None:
        return self._scan_head(instance_id)

    def _scan_head(self, instance_id: str) -> StoredEntry | None:
        doc = self._entries().find_one({"instance_id": instance_id}, sort=[("seq", DESCENDING)])
        return entry_from_document(doc) if doc else None

    @_unavailable_on_network_error
    def get_by_seq(self, instance_id: str, seq: int) -> StoredEntry | None:
        """Return the entry at ``seq``: by ``_id``, else (an entry from before the keys) by ``(instance_id, seq)``."""
        return self._at_seq(instance_id, seq)

    def _at_seq(self, instance_id: str, seq: int) -> StoredEntry | None:
        doc = self._entries().find_one({"_id": entry_key(instance_id, seq)})
        if doc is None:
            summary = self._summaries().find_one({"_id": instance_id}) or {}
            # Past the head, an entry at or after keyed_from has its key: no key, no entry.
            if seq <= summary.get("head_seq", -1) or seq < summary.get(_KEYED_FROM, seq + 1):
                doc = self._entries().find_one({"instance_id": instance_id, "seq": seq})
        return entry_from_document(doc) if doc else None

    @_unavailable_on_network_error
    def get_by_ids(self, instance_id: str, entry_ids: list[str]) -> dict[str, StoredEntry]:
        """Return the entries with these ids, in one query."""
        if not entry_ids:
            return {}
        cursor = self._entries().find({"instance_id": instance_id, "id": {"$in": entry_ids}})
        return {doc["id"]: entry_from_document(doc) for doc in cursor}

    @_unavailable_on_network_error
    def tree_hashes(self, instance_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """Return the ``tree`` of the entries at these seqs, an ``_id`` lookup each (FerretDB 1.x answers no
        ``$in`` from an index); an entry stored before the keys has no tree."""
        found = {}
        for seq in seqs:
            doc = self._entries().find_one({"_id": entry_key(instance_id, seq)}, {"tree": 1})
            if doc is not None and doc.get("tree") is not None:
                found[seq] = bytes(doc["tree"])
        return found

    @_unavailable_on_network_error
    def save_trees(self, instance_id: str, trees: dict[int, bytes]) -> None:
        """Set the ``tree`` of existing entries: by key, or by (instance_id, seq) for one stored before keys."""
        entries = self._entries()
        for seq, hashes in trees.items():
            change = {"$set": {"tree": Binary(hashes)}}
            if not entries.update_one({"_id": entry_key(instance_id, seq)}, change).matched_count:
                entries.update_one({"instance_id": instance_id, "seq": seq}, change)

    @_unavailable_on_network_error
    def insert_many(self, entries: list[StoredEntry], projected: Sequence[ProjectedEntries] = ()) -> None:
        """Announce the projections' parts, insert the entries with one ordered insert_many, then advance the
        summary and write the projections."""
        first = entries[0]
        announced = [(part, self._projection_hooks[part.projection].announce(part)) for part in projected]
        self._start_keys(first)
        if first.seq == 0:
            # The summary exists before the first entry does, so a crash between
            # the two writes leaves an instance that reads repair, never one that
            # listing cannot see.
            try:
                self._summaries().update_one(
                    {"_id": first.instance_id},
                    {
                        "$setOnInsert": {
                            _KEYED_FROM: 0,
                            "head_seq": -1,
                            "head_hash": None,
                            "count": 0,
                            "first_recorded_at": first.recorded_at,
                            "last_recorded_at": first.recorded_at,
                        }
                    },
                    upsert=True,
                )
            except DuplicateKeyError:
                pass  # a concurrent first append created it
        try:
            self._entries().insert_many([entry_document(entry) for entry in entries], ordered=True)
            stored = len(entries)
        except BulkWriteError as error:
            stored = error.details.get("nInserted", 0)
            if any(e.get("code") != _DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise
            if stored:
                self._advance_summary_quietly(entries[:stored])
            elif self._entries().find_one({"_id": entry_key(first.instance_id, first.seq)}, {"_id": 1}) is None:
                # The seq (or the id) is taken by an entry without its key: one a release before the keys
                # wrote, during an upgrade. The summary learns its head, so reads up to it find such entries.
                self.repair_summary(first.instance_id)
            raise DuplicateEntry(stored) from None  # what was announced for them stays so: repaired on read
        self._advance_summary_quietly(entries)
        for part, before in announced:
            self._projection_hooks[part.projection].write(part, before)

    def _start_keys(self, first: StoredEntry) -> None:
        """Record in the summary, once, the first seq stored under its key (entries before it may have none)."""
        if first.instance_id in self._keyed:
            return
        self._summaries().update_one(
            {"_id": first.instance_id, _KEYED_FROM: {"$exists": False}}, {"$set": {_KEYED_FROM: first.seq}}
        )
        if len(self._keyed) >= _KEYED_REMEMBERED:
            self._keyed.clear()
        self._keyed.add(first.instance_id)

    def _advance_summary_quietly(self, stored: list[StoredEntry]) -> None:
        try:
            self._advance_summary(stored[0], stored[-1])
        except PyMongoError as exc:
            # The entries are durable; the summary is repaired when next read.
            log.warning("instance summary not updated (%s); it is repaired on read", type(exc).__name__)

    def _advance_summary(self, first: StoredEntry, entry: StoredEntry) -> None:
        summaries = self._summaries()
        if first.seq == 0:
            summaries.update_one({"_id": first.instance_id}, {"$set": {"first_recorded_at": first.recorded_at}})
        summaries.update_one(
            {"_id": entry.instance_id, "head_seq": {"$lt": entry.seq}},
            {
                "$set": {
                    "head_seq": entry.seq,
                    "head_hash": entry.hash,
                    "count": entry.seq + 1,
                    "last_recorded_at": entry.recorded_at,
                }
            },
        )

    @_unavailable_on_network_error
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
        cursor = self._entries().find(criteria).sort("seq", order).limit(query.limit)
        return [entry_from_document(doc) for doc in cursor]

    @_unavailable_on_network_error
    def search(self, query: SearchQuery, position: SearchPosition | None) -> list[StoredEntry]:
        """Search across instances by type and time, in (recorded_at, instance_id, seq) order."""
        clauses: list[dict[str, Any]] = [type_and_time(query.type, query.since, query.until)]
        if query.within:
            clauses.append({"instance_id": starting_with(query.within)})
        if position is not None:
            clauses.append(after_position(position))
        criteria = {"$and": clauses} if clauses else {}
        order = [("recorded_at", ASCENDING), ("instance_id", ASCENDING), ("seq", ASCENDING)]
        return [entry_from_document(doc) for doc in self._entries().find(criteria).sort(order).limit(query.limit)]

    def iter_chain(self, instance_id: str) -> Iterator[StoredEntry]:
        """Yield entries by ascending seq; the server caps each batch at 16 MiB."""
        try:
            cursor = self._entries().find({"instance_id": instance_id}).sort("seq", ASCENDING).batch_size(100)
            for doc in cursor:
                yield entry_from_document(doc)
        except ConnectionFailure:
            raise StoreUnavailable() from None

    # -- summaries -----------------------------------------------------------

    @_unavailable_on_network_error
    def summary(self, instance_id: str) -> InstanceSummary | None:
        """Return the instance's summary, repaired first when an append outran it."""
        doc = self._summaries().find_one({"_id": instance_id})
        return self._fresh([doc])[0] if doc else None

    @_unavailable_on_network_error
    def list_summaries(self, after: str | None, limit: int, prefix: str = "") -> list[InstanceSummary]:
        """Return summaries by instance id (of ids that start with ``prefix``), each checked for staleness in one
        query per page."""
        criteria: dict[str, Any] = {"_id": {"$gt": after}} if after is not None else {}
        if prefix:
            criteria = {"$and": [criteria, {"_id": starting_with(prefix)}]}
        docs = list(self._summaries().find(criteria).sort("_id", ASCENDING).limit(limit))
        return [summary for summary in self._fresh(docs) if summary is not None]

    def _fresh(self, docs: list[dict[str, Any]]) -> list[InstanceSummary | None]:
        """Repair the summaries whose instance has an entry past the recorded head."""
        if not docs:
            return []
        legacy = [{"instance_id": doc["_id"], "seq": doc["head_seq"] + 1} for doc in docs if _KEYED_FROM not in doc]
        stale = set()
        if legacy:
            stale = {hit["instance_id"] for hit in self._entries().find({"$or": legacy}, {"instance_id": 1})}
        for doc in docs:
            if _KEYED_FROM in doc and self._entries().find_one({"_id": entry_key(doc["_id"], doc["head_seq"] + 1)}):
                stale.add(doc["_id"])
        return [self.repair_summary(doc["_id"]) if doc["_id"] in stale else summary_from_document(doc) for doc in docs]

    def _save_summary_if_behind(self, summary: InstanceSummary) -> None:
        self._summaries().update_one(
            {"_id": summary.instance_id, "head_seq": {"$lt": summary.head_seq}}, {"$set": summary.progress()}
        )
