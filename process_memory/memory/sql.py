"""The current memory and lineage indexes on SQL: four tables, written by the memory projection's hook in the
append's own transaction.

``views`` holds one row per instance (small fields and pointers into the
chain); ``reads`` the entities each instance read by query, ``read_tables``
the (tag, table) pairs those reads came from, and ``items`` the appended
``instance_filter`` and ``inputs`` items. Every reprocessing query is served
by one of the indexes declared here; tests/test_memory_plans.py checks the
plans.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from process_memory.history.projections import ProjectedEntries
from process_memory.history.sql import SQLHistoryStore
from process_memory.history.sql.projections import SQLProjectionHook
from process_memory.history.sql.tables import starts_with
from process_memory.memory.document import MAX_KEY_LENGTH
from process_memory.memory.index import EventQuery, MemoryIndex, ReaderQuery
from process_memory.memory.view import CurrentMemory, ViewFold, ViewWrite, rows_of

_KEY = sa.String(MAX_KEY_LENGTH)
#: A date key: ISO 8601 with microseconds, fixed width, so it sorts as text.
_DATE = sa.String(26)
#: The view's columns, as CurrentMemory names them (pending_seq is MongoDB's alone).
VIEW_FIELDS = tuple(f.name for f in dataclasses.fields(CurrentMemory) if f.name != "pending_seq")


@dataclass(frozen=True)
class MemoryTables:
    """The four tables of the current memory."""

    views: sa.Table
    reads: sa.Table
    read_tables: sa.Table
    items: sa.Table


def build_memory_tables(prefix: str, metadata: sa.MetaData) -> MemoryTables:
    """Describe the memory tables and the indexes each query reads."""
    views = sa.Table(
        f"{prefix}_memory_views",
        metadata,
        sa.Column("instance_id", sa.String(128), primary_key=True),
        sa.Column("applied_seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, sa.BigInteger) for name in ("event_seq", "maps_seq", "entities_seq")],
        *[sa.Column(name, sa.Text) for name in ("event_json", "fork_json")],
        *[sa.Column(name, _KEY) for name in ("process_id", "scope", "image", "original_instance_id")],
        sa.Column("name", sa.Text),
        sa.Column("reference_date", _DATE),
        sa.Column("event_time", sa.String(32)),
        sa.Index(f"{prefix}_memory_views_process_date", "process_id", "scope", "reference_date", "instance_id"),
        sa.Index(f"{prefix}_memory_views_original_time", "original_instance_id", "event_time", "instance_id"),
    )
    reads = sa.Table(
        f"{prefix}_memory_reads",
        metadata,
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, _KEY) for name in ("entity", "image", "table_name", "scope")],
        sa.Index(f"{prefix}_memory_reads_entity", "entity", "image", "table_name", "scope", "instance_id"),
        sa.Index(f"{prefix}_memory_reads_instance", "instance_id", "seq"),
    )
    read_tables = sa.Table(
        f"{prefix}_memory_read_tables",
        metadata,
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, _KEY) for name in ("image", "table_name", "scope")],
        sa.Index(f"{prefix}_memory_read_tables_tag", "image", "table_name", "scope", "instance_id"),
        sa.Index(f"{prefix}_memory_read_tables_instance", "instance_id", "seq"),
    )
    items = sa.Table(
        f"{prefix}_memory_items",
        metadata,
        sa.Column("instance_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("type", _KEY),
        sa.Column("item_json", sa.Text, nullable=False),
        sa.Index(f"{prefix}_memory_items_type", "instance_id", "kind", "type"),
    )
    return MemoryTables(views, reads, read_tables, items)


def view_from_row(row: Any) -> CurrentMemory:
    """Return the view a row of the views table holds (SQL views are never stale)."""
    mapping = row._mapping
    fields = {name: mapping[name] for name in VIEW_FIELDS}
    return CurrentMemory(**fields, pending_seq=fields["applied_seq"])


def _tag_and_table(columns: Any, query: ReaderQuery) -> Any:
    """The filter on (tag, table) pairs, and on the execution scope."""
    pairs = [
        sa.and_(columns.image == tag, columns.table_name.in_(tables)) for tag, tables in query.tables_by_tag.items()
    ]
    return sa.and_(sa.or_(*pairs), columns.scope == "execution")


class SQLMemoryIndex(SQLProjectionHook, MemoryIndex):
    """MemoryIndex over the memory tables, in the history store's database; the memory projection's hook there."""

    migrations = Path(__file__).parent / "revisions"

    def __init__(self, history: SQLHistoryStore) -> None:
        self.history = history
        self.memory = build_memory_tables(history.table_prefix, history.metadata)
        self._engine = history.engine
        self._upsert = history.engine.upsert

    def write(self, conn: Connection, projected: ProjectedEntries) -> None:
        """Fold the appended memory entries into the view as this transaction sees it."""
        fold = ViewFold.of(projected)
        self.apply_write(conn, fold.apply(self.view_on(conn, projected.instance_id)))

    def apply_write(self, conn: Connection, write: ViewWrite, replace: bool = False) -> None:
        """Store a fold's write on ``conn`` (the append's transaction); ``replace`` first drops what was there."""
        view, iid = write.view, write.view.instance_id
        row = {name: getattr(view, name) for name in VIEW_FIELDS}
        upsert = self._upsert(self.memory.views).values(**row)
        conn.execute(upsert.on_conflict_do_update(index_elements=["instance_id"], set_=row))
        if write.changes_reads or replace:
            for table in (self.memory.reads, self.memory.read_tables):
                conn.execute(table.delete().where(table.c.instance_id == iid))
        if replace:
            conn.execute(self.memory.items.delete().where(self.memory.items.c.instance_id == iid))
        rows = rows_of(write)
        for name in ("reads", "read_tables"):
            if rows[name]:
                conn.execute(getattr(self.memory, name).insert(), rows[name])
        if rows["items"]:
            # An item already there is the same item, from the same entry.
            conn.execute(self._upsert(self.memory.items).on_conflict_do_nothing(), rows["items"])

    def view_on(self, conn: Connection, instance_id: str) -> CurrentMemory | None:
        """Return the instance's view as ``conn`` sees it."""
        views = self.memory.views
        row = conn.execute(sa.select(views).where(views.c.instance_id == instance_id)).first()
        return view_from_row(row) if row else None

    def load_view(self, instance_id: str) -> CurrentMemory | None:
        """Return the instance's view."""
        with self._engine.connect() as conn:
            return self.view_on(conn, instance_id)

    def save_view(self, write: ViewWrite, expected_applied: int) -> bool:
        """Store the write when the view is still at ``expected_applied``, in one transaction."""
        with self._engine.begin() as conn:
            current = self.view_on(conn, write.view.instance_id)
            if (current.applied_seq if current else -1) != expected_applied:
                return False
            self.apply_write(conn, write)
        return True

    def replace_view(self, write: ViewWrite) -> bool:
        """Replace the view and its rows in one transaction, unless the chain has moved past the fold."""
        with self._engine.begin() as conn:
            if self.history.head_seq(conn, write.view.instance_id) > write.view.applied_seq:
                return False
            self.apply_write(conn, write, replace=True)
        return True

    def stale_views(self, limit: int) -> list[str]:
        """None: on SQL a view changes in its entry's transaction."""
        return []

    def load_views(self, instance_ids: list[str]) -> list[CurrentMemory]:
        """Return the views of these instances, by instance id."""
        views = self.memory.views
        statement = sa.select(views).where(views.c.instance_id.in_(instance_ids)).order_by(views.c.instance_id)
        with self._engine.connect() as conn:
            return [view_from_row(row) for row in conn.execute(statement)]

    def readers(self, query: ReaderQuery) -> list[str]:
        """Distinct reader instances, from the reads' entity index or the read tables' tag index."""
        table = self.memory.reads if query.entities is not None else self.memory.read_tables
        criteria = [_tag_and_table(table.c, query)]
        if query.entities is not None:
            criteria.append(table.c.entity.in_(query.entities))
        if query.after is not None:
            criteria.append(table.c.instance_id > query.after)
        if query.within:
            criteria.append(starts_with(table.c.instance_id, query.within))
        statement = (
            sa.select(table.c.instance_id).where(*criteria).distinct().order_by(table.c.instance_id).limit(query.limit)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(statement).scalars())

    def events(self, query: EventQuery) -> list[CurrentMemory]:
        """Views of a process's events in a reference-date window, from the process-date index."""
        views = self.memory.views
        criteria = [
            views.c.process_id == query.process_id,
            views.c.scope == query.scope,
            views.c.reference_date >= query.begin,
            views.c.reference_date <= query.end,
            starts_with(views.c.instance_id, query.within),
        ]
        if query.after is not None:
            criteria.append(
                sa.tuple_(views.c.reference_date, views.c.instance_id) > sa.tuple_(*map(sa.literal, query.after))
            )
        statement = sa.select(views).where(*criteria).order_by(views.c.reference_date, views.c.instance_id)
        with self._engine.connect() as conn:
            return [view_from_row(row) for row in conn.execute(statement.limit(query.limit))]

    def latest_reprocesses(self, originals: list[str], within: str = "") -> dict[str, str]:
        """The newest reprocess of each original, from the original-time index."""
        views = self.memory.views
        statement = (
            sa.select(views.c.original_instance_id, views.c.instance_id)
            .where(views.c.original_instance_id.in_(originals), starts_with(views.c.instance_id, within))
            .order_by(views.c.original_instance_id, views.c.event_time.desc(), views.c.instance_id.desc())
        )
        latest: dict[str, str] = {}
        with self._engine.connect() as conn:
            for original, instance_id in conn.execute(statement):
                latest.setdefault(original, instance_id)
        return latest

    def items(self, instance_ids: list[str], kind: str, types: list[str] | None = None) -> list[str]:
        """Item JSON in (instance, seq, position) order, from the items' key or type index."""
        items = self.memory.items
        criteria = [items.c.instance_id.in_(instance_ids), items.c.kind == kind]
        if types is not None:
            criteria.append(items.c.type.in_(types))
        statement = (
            sa.select(items.c.item_json).where(*criteria).order_by(items.c.instance_id, items.c.seq, items.c.position)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(statement).scalars())
