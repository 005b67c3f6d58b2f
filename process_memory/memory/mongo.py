"""The current memory's collections on MongoDB: the indexes each query of memory/index.py reads (docs/storage.md
lists them; tests/test_memory_plans.py checks that every query names indexed fields), and the hook that keeps
them around each insert."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.mongo.projections import MongoRowsHook
from process_memory.history.rows import RowWriter


def create_memory_indexes(database: Database[Any], prefix: str) -> None:
    """Create the indexes each memory query reads."""
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


def memory_hook(history: MongoHistoryStore, writer: RowWriter) -> MongoRowsHook:
    """Return the hook that marks, writes and indexes the memory collections around the store's inserts."""
    return MongoRowsHook(
        history.rows,
        writer,
        lambda database: create_memory_indexes(database, history.collection_name),
        "the current memory",
    )
