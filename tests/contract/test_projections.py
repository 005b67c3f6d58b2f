"""A projection other than the platform's memory rides on the log through the same hooks, with no change to
``history/``: a count of entries per type, kept in the insert's transaction on SQL and after it on MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from pymongo.database import Database
from sqlalchemy.engine import Connection

from process_memory.entry import NewEntry, StoredEntry
from process_memory.exceptions import Conflict, InvalidInput
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.mongo.projections import MongoProjectionHook
from process_memory.history.projections import ProjectedEntries, Projection
from process_memory.history.service import HistoryService
from process_memory.history.sql import SQLHistoryStore
from process_memory.history.sql.projections import SQLProjectionHook
from process_memory.history.store import HistoryStore


class TypeCounts(Projection):
    """Counts entries by type; refuses the type "forbidden"; entries of type "counted-only" cannot be erased."""

    name = "type_counts"
    description = "the type counts"

    def check(self, instance_id: str, news: Sequence[NewEntry]) -> list[Any]:
        if any(new.type == "forbidden" for new in news):
            raise InvalidInput("that type is not counted", {"type": ["not forbidden"]})
        return [new.type if new.type != "uncounted" else None for new in news]

    def is_built_from(self, stored: StoredEntry) -> bool:
        return stored.type == "counted-only"


def _counts(projected: ProjectedEntries) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, entry_type in projected.entries:
        counts[entry_type] = counts.get(entry_type, 0) + 1
    return counts


class SQLTypeCounts(SQLProjectionHook):
    def __init__(self, store: SQLHistoryStore) -> None:
        self.store = store
        self.table = sa.Table(
            f"{store.table_prefix}_type_counts",
            store.metadata,
            sa.Column("type", sa.String(256), primary_key=True),
            sa.Column("count", sa.Integer, nullable=False),
        )

    def write(self, conn: Connection, projected: ProjectedEntries) -> None:
        for entry_type, count in _counts(projected).items():
            upsert = self.store.engine.upsert(self.table).values(type=entry_type, count=count)
            conn.execute(
                upsert.on_conflict_do_update(index_elements=["type"], set_={"count": self.table.c.count + count})
            )

    def read(self) -> dict[str, int]:
        with self.store.engine.connect() as conn:
            return {row.type: row.count for row in conn.execute(sa.select(self.table))}


class MongoTypeCounts(MongoProjectionHook):
    def __init__(self, store: MongoHistoryStore) -> None:
        self.store = store
        self.indexed = False

    def create_indexes(self, database: Database[Any]) -> None:
        self.indexed = True  # _id is the type: nothing more to index

    def announce(self, projected: ProjectedEntries) -> Any:
        return _counts(projected)

    def write(self, projected: ProjectedEntries, announced: Any) -> None:
        collection = self.store.database()[f"{self.store.collection_name}_type_counts"]
        for entry_type, count in announced.items():
            collection.update_one({"_id": entry_type}, {"$inc": {"count": count}}, upsert=True)

    def read(self) -> dict[str, int]:
        collection = self.store.database()[f"{self.store.collection_name}_type_counts"]
        return {doc["_id"]: doc["count"] for doc in collection.find()}


@pytest.fixture
def counted(store: HistoryStore) -> tuple[HistoryService, Any]:
    hook = SQLTypeCounts(store) if isinstance(store, SQLHistoryStore) else MongoTypeCounts(store)  # type: ignore[arg-type]
    store.attach_projection(TypeCounts.name, hook)
    return HistoryService(store, max_inline_data=4096, projections=[TypeCounts()]), hook


def test_a_second_projection_is_kept_with_every_append(counted: tuple[HistoryService, Any], iid: str) -> None:
    service, hook = counted
    service.appender.append_entries(iid, [NewEntry(type="loaded", data=1), NewEntry(type="saved", data=2)])
    service.appender.append_entries(iid, [NewEntry(type="loaded", data=3), NewEntry(type="uncounted", data=4)])
    service.appender.append_entries(f"{iid}-2", [NewEntry(type="saved", data=5)])
    assert hook.read() == {"loaded": 2, "saved": 2}
    assert getattr(hook, "indexed", True)  # MongoDB: made with the store's own indexes


def test_a_retried_append_is_not_counted_twice(counted: tuple[HistoryService, Any], iid: str) -> None:
    service, hook = counted
    entry = NewEntry(type="loaded", data=1, id="the-one")
    service.appender.append_entries(iid, [entry])
    [(_, created)] = service.appender.append_entries(iid, [entry])
    assert created is False and hook.read() == {"loaded": 1}


def test_a_projection_refuses_a_batch_before_any_of_it_is_stored(
    counted: tuple[HistoryService, Any], store: HistoryStore, iid: str
) -> None:
    service, hook = counted
    with pytest.raises(InvalidInput):
        service.appender.append_entries(iid, [NewEntry(type="loaded", data=1), NewEntry(type="forbidden", data=2)])
    assert store.entries.head(iid) is None and hook.read() == {}


def test_an_entry_a_projection_is_built_from_cannot_be_redacted(counted: tuple[HistoryService, Any], iid: str) -> None:
    service, _ = counted
    service.appender.append_entries(iid, [NewEntry(type="counted-only", data=1), NewEntry(type="loaded", data=2)])
    with pytest.raises(Conflict, match="the type counts"):
        service.redactor.redact(iid, 0, "gdpr")
    redacted, _, created = service.redactor.redact(iid, 1, "gdpr")
    assert created and redacted.redacted_json is not None


def test_a_store_refuses_another_backends_hook(store: HistoryStore) -> None:
    wrong = (
        MongoTypeCounts.__new__(MongoTypeCounts)
        if isinstance(store, SQLHistoryStore)
        else SQLTypeCounts.__new__(SQLTypeCounts)
    )
    with pytest.raises(TypeError):
        store.attach_projection("wrong", wrong)
