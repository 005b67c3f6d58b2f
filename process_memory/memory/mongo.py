"""The current memory and lineage indexes on MongoDB: four collections, kept idempotently by the memory
projection's hook and repaired on read.

Without multi-document transactions a view cannot change with its entry, so
an append marks the view first (``pending_seq``, ``dirty``), inserts its
entries, then folds them into the view with a write conditional on the seq the
view was at. Every row a fold writes has an id made of its instance and seq,
so writing it twice is harmless. An append interrupted anywhere leaves the
view dirty; the memory service then replays the chain past ``applied_seq``
before answering (``MemoryService.current``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.mongo.documents import starting_with
from process_memory.history.mongo.projections import MongoProjectionHook
from process_memory.history.projections import ProjectedEntries
from process_memory.memory.index import EventQuery, MemoryIndex, ReaderQuery
from process_memory.memory.view import CurrentMemory, ViewFold, ViewWrite, rows_of

log = logging.getLogger(__name__)

#: The view's fields as CurrentMemory names them; ``instance_id`` is the document's ``_id``.
VIEW_FIELDS = tuple(f.name for f in dataclasses.fields(CurrentMemory) if f.name != "instance_id")
DUPLICATE_KEY = 11000
#: Rows read per round trip while collecting distinct reader instances.
READER_BATCH = 256


def create_memory_indexes(database: Database[Any], prefix: str) -> None:
    """Create the indexes each memory query reads (docs/storage.md lists them)."""
    views = database[f"{prefix}_memory_views"]
    views.create_index(
        [("process_id", ASCENDING), ("scope", ASCENDING), ("reference_date", ASCENDING), ("_id", ASCENDING)],
        name="process_date",
    )
    views.create_index(
        [("original_instance_id", ASCENDING), ("event_time", DESCENDING), ("_id", DESCENDING)], name="original_time"
    )
    views.create_index([("dirty", ASCENDING)], name="dirty")
    reads = database[f"{prefix}_memory_reads"]
    reads.create_index(
        [(key, ASCENDING) for key in ("entity", "image", "table_name", "scope", "instance_id")], name="entity"
    )
    reads.create_index([("instance_id", ASCENDING), ("seq", ASCENDING)], name="instance_seq")
    read_tables = database[f"{prefix}_memory_read_tables"]
    read_tables.create_index(
        [(key, ASCENDING) for key in ("image", "table_name", "scope", "instance_id")], name="tag_table"
    )
    read_tables.create_index([("instance_id", ASCENDING), ("seq", ASCENDING)], name="instance_seq")
    items = database[f"{prefix}_memory_items"]
    items.create_index([("instance_id", ASCENDING), ("kind", ASCENDING), ("type", ASCENDING)], name="instance_type")
    items.create_index(
        [("instance_id", ASCENDING), ("kind", ASCENDING), ("seq", ASCENDING), ("position", ASCENDING)],
        name="instance_order",
    )


def view_from_document(doc: dict[str, Any]) -> CurrentMemory:
    """Return the view a document holds."""
    fields: dict[str, Any] = {name: doc[name] for name in VIEW_FIELDS if name in doc}
    return CurrentMemory(instance_id=doc["_id"], **fields)


def _reader_filter(query: ReaderQuery) -> dict[str, Any]:
    pairs = [{"image": tag, "table_name": {"$in": tables}} for tag, tables in query.tables_by_tag.items()]
    criteria: dict[str, Any] = {"$or": pairs, "scope": "execution"}
    if query.entities is not None:
        criteria["entity"] = {"$in": query.entities}
    return criteria


class MongoMemoryIndex(MongoProjectionHook, MemoryIndex):
    """MemoryIndex over the memory collections, in the history store's database; the memory projection's hook
    there."""

    def __init__(self, history: MongoHistoryStore) -> None:
        self.history = history

    def _memory(self, part: str) -> Collection[Any]:
        return self.history.database()[f"{self.history.collection_name}_memory_{part}"]

    # -- writes ----------------------------------------------------------------

    def create_indexes(self, database: Database[Any]) -> None:
        """Create the indexes each memory query reads."""
        create_memory_indexes(database, self.history.collection_name)

    def announce(self, projected: ProjectedEntries) -> CurrentMemory | None:
        """Mark the view dirty with the last memory seq before the entries are inserted; return it as it was."""
        before = self._memory("views").find_one_and_update(
            {"_id": projected.instance_id},
            {"$max": {"pending_seq": projected.last_seq}, "$set": {"dirty": True}, "$setOnInsert": {"applied_seq": -1}},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        return view_from_document(before) if before else None

    def write(self, projected: ProjectedEntries, announced: CurrentMemory | None) -> None:
        """Fold the just-inserted entries into the view they followed; a view that was dirty is left to repair."""
        if announced is not None and announced.stale:
            return  # another append's entries may sit between that view and ours
        fold = ViewFold.of(projected)
        try:
            self.save_view(fold.apply(announced), announced.applied_seq if announced else -1)
        except PyMongoError as exc:
            log.warning("current memory not updated (%s); it is repaired on read", type(exc).__name__)

    def _insert_rows(self, part: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows whose ids say what they are: a row already there is the same row, written before."""
        if not rows:
            return
        try:
            self._memory(part).insert_many(rows, ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise

    def _write_rows(self, write: ViewWrite) -> None:
        rows = rows_of(write)
        # Ids made of what each row is: a fold written again writes the same ids.
        self._insert_rows(
            "items", [{"_id": f"{r['instance_id']}:{r['seq']}:{r['kind']}:{r['position']}", **r} for r in rows["items"]]
        )
        for part in ("reads", "read_tables"):
            self._insert_rows(
                part, [{"_id": f"{r['instance_id']}:{r['seq']}:{n}", **r} for n, r in enumerate(rows[part])]
            )

    def _settle(self, write: ViewWrite) -> None:
        """After the view moved: clear ``dirty`` unless a later append is pending; drop superseded reads."""
        view = write.view
        self._memory("views").update_one(
            {"_id": view.instance_id, "applied_seq": view.applied_seq, "pending_seq": {"$lte": view.applied_seq}},
            {"$set": {"dirty": False}},
        )
        if write.changes_reads and view.entities_seq is not None:
            for part in ("reads", "read_tables"):
                self._memory(part).delete_many({"instance_id": view.instance_id, "seq": {"$lt": view.entities_seq}})

    def _view_fields(self, view: CurrentMemory) -> dict[str, Any]:
        return {name: getattr(view, name) for name in VIEW_FIELDS if name != "pending_seq"}

    def save_view(self, write: ViewWrite, expected_applied: int) -> bool:
        """Write the rows, then move the view if it is still at ``expected_applied``."""
        self._write_rows(write)
        try:
            result = self._memory("views").update_one(
                {"_id": write.view.instance_id, "applied_seq": expected_applied},
                {"$set": self._view_fields(write.view)},
                upsert=expected_applied == -1,
            )
        except DuplicateKeyError:
            return False  # the view exists, at another seq
        if not (result.matched_count or result.upserted_id is not None):
            return False
        self._settle(write)
        return True

    def replace_view(self, write: ViewWrite) -> bool:
        """Replace the view and its rows with a fold of the whole chain; an append it missed leaves it dirty."""
        iid = write.view.instance_id
        for part in ("items", "reads", "read_tables"):
            self._memory(part).delete_many({"instance_id": iid})
        self._write_rows(write)
        self._memory("views").update_one({"_id": iid}, {"$set": self._view_fields(write.view)}, upsert=True)
        self._settle(write)
        return True

    # -- reads -----------------------------------------------------------------

    def load_view(self, instance_id: str) -> CurrentMemory | None:
        """Return the instance's view document, stale or not."""
        doc = self._memory("views").find_one({"_id": instance_id})
        return view_from_document(doc) if doc else None

    def stale_views(self, limit: int) -> list[str]:
        """Instances whose view is marked dirty."""
        return [doc["_id"] for doc in self._memory("views").find({"dirty": True}, {"_id": 1}).limit(limit)]

    def load_views(self, instance_ids: list[str]) -> list[CurrentMemory]:
        """Return the views of these instances, by instance id."""
        cursor = self._memory("views").find({"_id": {"$in": instance_ids}}).sort("_id", ASCENDING)
        return [view_from_document(doc) for doc in cursor]

    def readers(self, query: ReaderQuery) -> list[str]:
        """Distinct reader instances whose matching rows belong to their current entities."""
        rows = self._memory("reads" if query.entities is not None else "read_tables")
        criteria, after, batch = _reader_filter(query), query.after, READER_BATCH
        found: list[str] = []
        while len(found) < query.limit:
            ids = {
                **(starting_with(query.within) if query.within else {}),
                **({"$gt": after} if after is not None else {}),
            }
            page_criteria = {**criteria, **({"instance_id": ids} if ids else {})}
            cursor = rows.find(page_criteria, {"instance_id": 1, "seq": 1}).sort("instance_id", ASCENDING)
            docs = list(cursor.limit(batch))
            seqs: dict[str, set[int]] = {}
            for doc in docs:
                seqs.setdefault(doc["instance_id"], set()).add(doc["seq"])
            decided = sorted(seqs)
            full = len(docs) == batch
            if full and len(decided) == 1:
                batch *= 2  # one instance fills the batch: read more of it at once
                continue
            if full:
                decided = decided[:-1]  # the last instance may go on in the next batch
            views = {view.instance_id: view for view in self.load_views(decided)}
            found += [iid for iid in decided if iid in views and views[iid].entities_seq in seqs[iid]]
            if not full:
                break
            after = decided[-1]
        return found[: query.limit]

    def events(self, query: EventQuery) -> list[CurrentMemory]:
        """Views of a process's events in a reference-date window, from the process-date index."""
        criteria: dict[str, Any] = {
            "process_id": query.process_id,
            "scope": query.scope,
            "reference_date": {"$gte": query.begin, "$lte": query.end},
        }
        if query.within:
            criteria["_id"] = starting_with(query.within)
        if query.after is not None:
            date, iid = query.after
            criteria["$or"] = [{"reference_date": {"$gt": date}}, {"reference_date": date, "_id": {"$gt": iid}}]
        cursor = self._memory("views").find(criteria).sort([("reference_date", ASCENDING), ("_id", ASCENDING)])
        return [view_from_document(doc) for doc in cursor.limit(query.limit)]

    def latest_reprocesses(self, originals: list[str], within: str = "") -> dict[str, str]:
        """The newest reprocess of each original, from the original-time index."""
        criteria: dict[str, Any] = {"original_instance_id": {"$in": originals}}
        if within:
            criteria["_id"] = starting_with(within)
        cursor = (
            self._memory("views")
            .find(criteria, {"original_instance_id": 1})
            .sort([("original_instance_id", ASCENDING), ("event_time", DESCENDING), ("_id", DESCENDING)])
        )
        latest: dict[str, str] = {}
        for doc in cursor:
            latest.setdefault(doc["original_instance_id"], doc["_id"])
        return latest

    def items(self, instance_ids: list[str], kind: str, types: list[str] | None = None) -> list[str]:
        """Item JSON in (instance, seq, position) order."""
        criteria: dict[str, Any] = {"instance_id": {"$in": instance_ids}, "kind": kind}
        if types is not None:
            criteria["type"] = {"$in": types}
        order = [("instance_id", ASCENDING), ("kind", ASCENDING), ("seq", ASCENDING), ("position", ASCENDING)]
        return [doc["item_json"] for doc in self._memory("items").find(criteria, {"item_json": 1}).sort(order)]
