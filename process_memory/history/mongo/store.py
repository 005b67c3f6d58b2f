"""MongoHistoryStore: history on MongoDB, AWS DocumentDB or FerretDB.

Only what all three support is used: single-document atomic writes, unique
compound indexes, explicit sorts, GridFS. ``data`` and ``metadata`` are kept as
canonical JSON strings next to native, indexed header fields, because neither
DocumentDB nor FerretDB accepts every JSON document natively ($ and . keys,
nested arrays, integers beyond 64 bits); docs/storage.md explains the layout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import gridfs
from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from process_memory.db import ProcessLocal, unavailable_on
from process_memory.exceptions import DuplicateEntry, StoreUnavailable
from process_memory.history.entry import StoredEntry
from process_memory.history.mongo.documents import (
    after_position,
    create_indexes,
    entry_document,
    entry_from_document,
    summary_from_document,
    type_and_time,
)
from process_memory.history.mongo.memory import MongoMemoryIndex, create_memory_indexes
from process_memory.history.store import HistoryQuery, HistoryStore, InstanceSummary, SearchQuery
from process_memory.memory.view import ViewFold
from process_memory.paging import SearchPosition

log = logging.getLogger(__name__)


_unavailable_on_network_error = unavailable_on(ConnectionFailure)
_DUPLICATE_KEY = 11000


class MongoHistoryStore(MongoMemoryIndex, HistoryStore):
    """History entries in one collection, summaries in another, large data in GridFS; the current memory in four."""

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
        self._timeout_ms = timeout_ms
        self._client_factory = client_factory
        # One client per process, opened on first use: a client made before gunicorn forks is never used by a child.
        self._client = ProcessLocal(self._create_client, self._create_indexes)

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

    def _database(self) -> Database[Any]:
        return self._client.get()[self._database_name]

    def _entries(self) -> Collection[Any]:
        return self._database()[self._collection_name]

    def _summaries(self) -> Collection[Any]:
        return self._database()[f"{self._collection_name}_instances"]

    def _bucket(self) -> gridfs.GridFSBucket:
        return gridfs.GridFSBucket(self._database(), bucket_name=f"{self._collection_name}_blobs")

    def _create_indexes(self, client: MongoClient[Any]) -> None:
        create_indexes(client[self._database_name][self._collection_name])
        create_memory_indexes(client[self._database_name], self._collection_name)

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
        """Return the entry with the highest seq."""
        doc = self._entries().find_one({"instance_id": instance_id}, sort=[("seq", DESCENDING)])
        return entry_from_document(doc) if doc else None

    @_unavailable_on_network_error
    def get_by_seq(self, instance_id: str, seq: int) -> StoredEntry | None:
        """Return the entry at ``seq``."""
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
    def insert_many(self, entries: list[StoredEntry], view_fold: ViewFold | None = None) -> None:
        """Insert the entries with one ordered insert_many, then advance the summary and fold the view."""
        first = entries[0]
        view_before = self.announce_view(view_fold) if view_fold is not None else None
        if first.seq == 0:
            # The summary exists before the first entry does, so a crash between
            # the two writes leaves an instance that reads repair, never one that
            # listing cannot see.
            try:
                self._summaries().update_one(
                    {"_id": first.instance_id},
                    {
                        "$setOnInsert": {
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
            raise DuplicateEntry(stored) from None  # a view announced for them stays dirty: repaired on read
        self._advance_summary_quietly(entries)
        if view_fold is not None:
            self.fold_announced(view_fold, view_before)

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

    # -- blobs ---------------------------------------------------------------

    @_unavailable_on_network_error
    def put_blob(self, instance_id: str, entry_id: str, compressed: bytes) -> str:
        """Store compressed data in GridFS and return its file id."""
        file_id = self._bucket().upload_from_stream(
            entry_id, compressed, metadata={"instance_id": instance_id, "entry_id": entry_id}
        )
        return str(file_id)

    @_unavailable_on_network_error
    def get_blob(self, ref: str) -> bytes:
        """Read a GridFS file whole."""
        try:
            with self._bucket().open_download_stream(ObjectId(ref)) as stream:
                return stream.read()
        except (gridfs.errors.NoFile, gridfs.errors.CorruptGridFile, InvalidId):
            raise KeyError(ref) from None

    @_unavailable_on_network_error
    def delete_blob(self, ref: str) -> None:
        """Delete a GridFS file and its chunks."""
        try:
            self._bucket().delete(ObjectId(ref))
        except gridfs.errors.NoFile:
            pass

    @_unavailable_on_network_error
    def delete_orphan_blobs(self, older_than: datetime) -> int:
        """Delete GridFS files, and chunks of uploads that never finished, that no entry refers to."""
        database = self._database()
        bucket_name = f"{self._collection_name}_blobs"
        files, chunks = database[f"{bucket_name}.files"], database[f"{bucket_name}.chunks"]
        entries = self._entries()
        cutoff = ObjectId.from_datetime(older_than)
        deleted = 0
        for file_doc in files.find({"_id": {"$lt": cutoff}}, {"_id": 1}):
            if entries.find_one({"data_blob": file_doc["_id"]}, {"_id": 1}) is None:
                self._bucket().delete(file_doc["_id"])
                deleted += 1
        # An upload killed half-way leaves chunks whose files document was never written.
        for chunk in chunks.find({"files_id": {"$lt": cutoff}, "n": 0}, {"files_id": 1}):
            if files.find_one({"_id": chunk["files_id"]}, {"_id": 1}) is None:
                chunks.delete_many({"files_id": chunk["files_id"]})
                deleted += 1
        return deleted

    # -- summaries -----------------------------------------------------------

    @_unavailable_on_network_error
    def summary(self, instance_id: str) -> InstanceSummary | None:
        """Return the instance's summary, repaired first when an append outran it."""
        doc = self._summaries().find_one({"_id": instance_id})
        return self._fresh([doc])[0] if doc else None

    @_unavailable_on_network_error
    def list_summaries(self, after: str | None, limit: int) -> list[InstanceSummary]:
        """Return summaries by instance id, each checked for staleness in one query per page."""
        criteria = {"_id": {"$gt": after}} if after is not None else {}
        docs = list(self._summaries().find(criteria).sort("_id", ASCENDING).limit(limit))
        return [summary for summary in self._fresh(docs) if summary is not None]

    def _fresh(self, docs: list[dict[str, Any]]) -> list[InstanceSummary | None]:
        """Repair the summaries whose instance has an entry past the recorded head."""
        if not docs:
            return []
        probes = [{"instance_id": doc["_id"], "seq": doc["head_seq"] + 1} for doc in docs]
        stale = {hit["instance_id"] for hit in self._entries().find({"$or": probes}, {"instance_id": 1})}
        return [self.repair_summary(doc["_id"]) if doc["_id"] in stale else summary_from_document(doc) for doc in docs]

    def _save_summary_if_behind(self, summary: InstanceSummary) -> None:
        self._summaries().update_one(
            {"_id": summary.instance_id, "head_seq": {"$lt": summary.head_seq}}, {"$set": summary.progress()}
        )
