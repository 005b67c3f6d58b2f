"""A projection other than the platform's memory rides on the log through the same hooks, with no change to
``history/``: a count of entries per type, written once against the store's rows (history/rows.py), kept in the
insert's transaction on SQL and after it on MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from process_memory.entry import NewEntry, StoredEntry
from process_memory.exceptions import Conflict, InvalidInput
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.mongo.projections import MongoRowsHook
from process_memory.history.projections import ProjectedEntries, Projection
from process_memory.history.rows import Compare, RowStore, RowTable, RowWriter
from process_memory.history.service import HistoryService
from process_memory.history.sql import SQLHistoryStore
from process_memory.history.sql.projections import SQLRowsHook
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


TYPE_COUNTS = RowTable("type_counts", ("type",))


class TypeCountsWriter(RowWriter):
    """The count, written once for every backend against the store's rows."""

    def announce(self, rows: RowStore, projected: ProjectedEntries) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, entry_type in projected.entries:
            counts[entry_type] = counts.get(entry_type, 0) + 1
        return counts

    def write(self, rows: RowStore, projected: ProjectedEntries, announced: dict[str, int]) -> None:
        for entry_type, count in announced.items():
            [before] = rows.find(TYPE_COUNTS, [Compare("type", "==", entry_type)]) or [{"count": 0}]
            rows.put(TYPE_COUNTS, {"type": entry_type, "count": before["count"] + count})

    def read(self, rows: RowStore) -> dict[str, int]:
        return {row["type"]: row["count"] for row in rows.find(TYPE_COUNTS, [])}


def _hook(store: HistoryStore, writer: RowWriter) -> object:
    """What each backend adds: on SQL the table (no revisions: created as declared), on MongoDB no index."""
    if isinstance(store, SQLHistoryStore):
        sa.Table(
            f"{store.table_prefix}_type_counts",
            store.metadata,
            sa.Column("type", sa.String(256), primary_key=True),
            sa.Column("count", sa.Integer, nullable=False),
        )
        return SQLRowsHook(store.rows, writer)
    assert isinstance(store, MongoHistoryStore)
    return MongoRowsHook(store.rows, writer, lambda database: None, "the type counts")


@pytest.fixture
def counted(store: HistoryStore) -> tuple[HistoryService, Any]:
    writer = TypeCountsWriter()
    store.attach_projection(TypeCounts.name, _hook(store, writer))
    store.ensure_schema()
    return HistoryService(store, max_inline_data=4096, projections=[TypeCounts()]), lambda: writer.read(store.rows)


def test_a_second_projection_is_kept_with_every_append(counted: tuple[HistoryService, Any], iid: str) -> None:
    service, read = counted
    service.appender.append_entries(iid, [NewEntry(type="loaded", data=1), NewEntry(type="saved", data=2)])
    service.appender.append_entries(iid, [NewEntry(type="loaded", data=3), NewEntry(type="uncounted", data=4)])
    service.appender.append_entries(f"{iid}-2", [NewEntry(type="saved", data=5)])
    assert read() == {"loaded": 2, "saved": 2}


def test_a_retried_append_is_not_counted_twice(counted: tuple[HistoryService, Any], iid: str) -> None:
    service, read = counted
    entry = NewEntry(type="loaded", data=1, id="the-one")
    service.appender.append_entries(iid, [entry])
    [(_, created)] = service.appender.append_entries(iid, [entry])
    assert created is False and read() == {"loaded": 1}


def test_a_projection_refuses_a_batch_before_any_of_it_is_stored(
    counted: tuple[HistoryService, Any], store: HistoryStore, iid: str
) -> None:
    service, read = counted
    with pytest.raises(InvalidInput):
        service.appender.append_entries(iid, [NewEntry(type="loaded", data=1), NewEntry(type="forbidden", data=2)])
    assert store.entries.head(iid) is None and read() == {}


def test_an_entry_a_projection_is_built_from_cannot_be_redacted(counted: tuple[HistoryService, Any], iid: str) -> None:
    service, _ = counted
    service.appender.append_entries(iid, [NewEntry(type="counted-only", data=1), NewEntry(type="loaded", data=2)])
    with pytest.raises(Conflict, match="the type counts"):
        service.redactor.redact(iid, 0, "gdpr")
    redacted, _, created = service.redactor.redact(iid, 1, "gdpr")
    assert created and redacted.redacted_json is not None


def test_a_store_refuses_another_backends_hook(store: HistoryStore) -> None:
    wrong = (
        MongoRowsHook.__new__(MongoRowsHook) if isinstance(store, SQLHistoryStore) else SQLRowsHook.__new__(SQLRowsHook)
    )
    with pytest.raises(TypeError):
        store.attach_projection("wrong", wrong)
