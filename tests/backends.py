"""Direct database access for tests that play crash or tamper behind the service's back."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import sqlalchemy as sa

from process_memory.entry import chain_hash
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.mongo.database import FRONTIER
from process_memory.history.sql import SQLHistoryStore
from process_memory.memory import memory_index_of


class RawAccess(Protocol):
    """What the contract tests do to a backend's tables or collections directly."""

    def entry_row(self, instance_id: str, seq: int) -> dict[str, Any]: ...
    def update_entry(self, instance_id: str, seq: int, **fields: Any) -> None: ...
    def delete_entry(self, instance_id: str, seq: int) -> None: ...
    def delete_instance(self, instance_id: str) -> None: ...
    def set_summary_head(self, instance_id: str, head_seq: int) -> None: ...
    def summary_head(self, instance_id: str) -> int: ...
    def insert_placeholder_summary(self, instance_id: str) -> None: ...
    def blob_count(self, instance_id: str) -> int: ...
    def drop_tree(self, instance_id: str, seq: int) -> None: ...
    def wipe_memory(self) -> None: ...
    def drop(self) -> None: ...


class MongoRaw:
    """Raw access to a MongoHistoryStore's collections."""

    def __init__(self, store: MongoHistoryStore) -> None:
        self.store = store

    def entry_row(self, instance_id: str, seq: int) -> dict[str, Any]:
        return self.store.collections.entries().find_one({"instance_id": instance_id, "seq": seq})

    def update_entry(self, instance_id: str, seq: int, **fields: Any) -> None:
        self.store.collections.entries().update_one({"instance_id": instance_id, "seq": seq}, {"$set": fields})

    def delete_entry(self, instance_id: str, seq: int) -> None:
        self.store.collections.entries().delete_one({"instance_id": instance_id, "seq": seq})

    def delete_instance(self, instance_id: str) -> None:
        self.store.collections.entries().delete_many({"instance_id": instance_id})
        self.store.collections.summaries().delete_one({"_id": instance_id})

    def set_summary_head(self, instance_id: str, head_seq: int) -> None:
        """As a summary the appends after ``head_seq`` never reached: its head and that head's hash, which are
        always written together, and no copy of the tree's frontier."""
        head = self.store.collections.at_seq(instance_id, head_seq)
        self.store.collections.summaries().update_one(
            {"_id": instance_id},
            {
                "$set": {"head_seq": head_seq, "count": head_seq + 1, "head_hash": head.hash if head else None},
                "$unset": {FRONTIER: ""},
            },
        )

    def summary_head(self, instance_id: str) -> int:
        return self.store.collections.summaries().find_one({"_id": instance_id})["head_seq"]

    def insert_placeholder_summary(self, instance_id: str) -> None:
        self.store.collections.summaries().insert_one(
            {
                "_id": instance_id,
                "head_seq": -1,
                "head_hash": None,
                "count": 0,
                "first_recorded_at": "x",
                "last_recorded_at": "x",
            }
        )

    def blob_count(self, instance_id: str) -> int:
        files = self.store.database()[f"{self.store.collection_name}_blobs.files"]
        return files.count_documents({"metadata.instance_id": instance_id})

    def wipe_memory(self) -> None:
        memory_index_of(self.store)
        for part in ("views", "reads", "read_tables", "items"):
            self.store.database()[f"{self.store.collection_name}_memory_{part}"].delete_many({})

    def drop_tree(self, instance_id: str, seq: int) -> None:
        """As an entry stored before trees were kept: without its tree, and its summary without the copy of the
        frontier a release that kept no trees never wrote."""
        self.store.collections.entries().update_one({"instance_id": instance_id, "seq": seq}, {"$set": {"tree": None}})
        self.store.collections.summaries().update_one({"_id": instance_id}, {"$unset": {FRONTIER: ""}})

    def drop(self) -> None:
        database = self.store.database()
        for name in database.list_collection_names():
            if name.startswith(self.store.collection_name):
                database.drop_collection(name)


class SQLRaw:
    """Raw access to a SQLHistoryStore's tables."""

    def __init__(self, store: SQLHistoryStore) -> None:
        self.store = store
        self.tables = store.tables

    def _execute(self, statement: Any) -> Any:
        with self.store._connect().begin() as conn:
            return conn.execute(statement)

    def _entry(self, instance_id: str, seq: int) -> Any:
        entries = self.tables.entries
        return sa.and_(entries.c.instance_id == instance_id, entries.c.seq == seq)

    def entry_row(self, instance_id: str, seq: int) -> dict[str, Any]:
        return dict(self._execute(sa.select(self.tables.entries).where(self._entry(instance_id, seq))).one()._mapping)

    def update_entry(self, instance_id: str, seq: int, **fields: Any) -> None:
        self._execute(self.tables.entries.update().where(self._entry(instance_id, seq)).values(**fields))

    def delete_entry(self, instance_id: str, seq: int) -> None:
        self._execute(self.tables.entries.delete().where(self._entry(instance_id, seq)))

    def delete_instance(self, instance_id: str) -> None:
        for table in (self.tables.entries, self.tables.trees, self.tables.instances):
            self._execute(table.delete().where(table.c.instance_id == instance_id))

    def set_summary_head(self, instance_id: str, head_seq: int) -> None:
        instances = self.tables.instances
        self._execute(
            instances.update()
            .where(instances.c.instance_id == instance_id)
            .values(head_seq=head_seq, count=head_seq + 1)
        )

    def summary_head(self, instance_id: str) -> int:
        instances = self.tables.instances
        return self._execute(sa.select(instances.c.head_seq).where(instances.c.instance_id == instance_id)).scalar()

    def insert_placeholder_summary(self, instance_id: str) -> None:
        self._execute(
            self.tables.instances.insert().values(
                instance_id=instance_id,
                count=0,
                head_seq=-1,
                head_hash=None,
                first_recorded_at="x",
                last_recorded_at="x",
            )
        )

    def drop_tree(self, instance_id: str, seq: int) -> None:
        trees = self.tables.trees
        self._execute(trees.delete().where(trees.c.instance_id == instance_id, trees.c.seq == seq))

    def blob_count(self, instance_id: str) -> int:
        blobs = self.tables.blobs
        return self._execute(sa.select(sa.func.count()).where(blobs.c.instance_id == instance_id)).scalar()

    def wipe_memory(self) -> None:
        memory_index_of(self.store)  # its tables declared
        for part in ("views", "reads", "read_tables", "items"):
            self._execute(self.store.metadata.tables[f"{self.store.table_prefix}_memory_{part}"].delete())

    def drop(self) -> None:
        self.tables.entries.metadata.drop_all(self.store._connect())


def raw_access(store: Any) -> RawAccess:
    """Return the raw access that fits the store's backend."""
    return MongoRaw(store) if isinstance(store, MongoHistoryStore) else SQLRaw(store)


def rewrite_consistently(store: Any, instance_id: str, seq: int, data: bytes) -> None:
    """Play an operator who rewrites entry ``seq``'s data and every hash from it to the head, so the chain holds
    again: only a checkpoint or an anchor kept from before tells."""
    raw = raw_access(store)
    old = store.entries.get_by_seq(instance_id, seq)
    fields = {"data_json": data.decode(), "size": len(data), "data_sha256": hashlib.sha256(data).hexdigest()}
    rewritten = chain_hash({**vars(old), **fields})
    raw.update_entry(instance_id, seq, **fields, hash=rewritten)
    for later in range(seq + 1, raw.summary_head(instance_id) + 1):
        raw.update_entry(instance_id, later, prev_hash=rewritten)
        rewritten = chain_hash(vars(store.entries.get_by_seq(instance_id, later)))
        raw.update_entry(instance_id, later, hash=rewritten)


def holder_of(store: Any, method: str) -> Any:
    """The capability of ``store`` whose ``method`` a test counts or breaks (entries, blobs, trees, …)."""
    for part in (store.entries, store.blobs, store.trees, store.summaries, store.search_index, store.erasure):
        if hasattr(part, method):
            return part
    raise AttributeError(method)
