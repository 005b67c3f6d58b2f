"""The entries table on SQL: the chain of each instance, and the search across instances.

An append inserts the entries, their tree rows and the instance summary's move, and hands each projection's
part to its hook, in one short transaction, so a crash leaves all of it or none. ``data`` and ``metadata`` are
kept as their canonical JSON text, the exact bytes that are hashed; PostgreSQL also keeps a JSONB copy so
operators can query them with psql (JSONB cannot be the record: it rewrites numbers such as 1e300 and refuses
\\u0000).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from process_memory.db import ProcessLocalEngine, unavailable_on
from process_memory.entry import STORED_FIELDS, StoredEntry
from process_memory.exceptions import DuplicateEntry
from process_memory.history.projections import ProjectedEntries
from process_memory.history.queries import HistoryQuery, SearchQuery
from process_memory.history.sql.notify import AppendListener, channel_name, listener_conninfo
from process_memory.history.sql.projections import SQLProjectionHook
from process_memory.history.sql.tables import (
    ENTRY_COLUMNS,
    Tables,
    entry_from_row,
    entry_from_values,
    entry_insert,
    entry_row,
    starts_with,
)
from process_memory.history.sql.trees import SQLTrees
from process_memory.history.store import EntryLog, SearchIndex
from process_memory.history.summaries import summary_of
from process_memory.paging import SearchPosition
from process_memory.statements import DriverStatement

#: Rows per round trip while walking a chain; each row holds at most DOCDB_MAX_DATA of inline data.
CHAIN_BATCH = 32

# OperationalError covers an unreachable server and SQLite's "database is locked" after the busy timeout.
unavailable_on_database_error = unavailable_on(OperationalError)


def select_entries(tables: Tables) -> sa.Select[Any]:
    """Every stored field of the entries, and the blob column."""
    entries = tables.entries
    return sa.select(*[entries.c[name] for name in STORED_FIELDS], entries.c.data_blob)


def type_and_time(tables: Tables, entry_type: str | None, since: str | None, until: str | None) -> list[Any]:
    """The filter on an entry's type and recorded time that pages and searches share."""
    entries = tables.entries
    criteria = []
    if entry_type is not None:
        criteria.append(entries.c.type == entry_type)
    if since is not None:
        criteria.append(entries.c.recorded_at >= since)
    if until is not None:
        criteria.append(entries.c.recorded_at < until)
    return criteria


class SQLEntries(EntryLog):
    """The chain of each instance in the entries table."""

    def __init__(
        self,
        engine: ProcessLocalEngine,
        tables: Tables,
        trees: SQLTrees,
        projection_hooks: dict[str, SQLProjectionHook],
        table_prefix: str,
        listen_url: URL | None,
    ) -> None:
        self._engine = engine
        self.tables = tables
        self._trees = trees
        #: The projections' hooks by name, as the store attaches them.
        self._projection_hooks = projection_hooks
        with_jsonb = self._with_jsonb = engine.dialect == "postgresql"
        # The append path's statements, built once: building them per request cost more than running them.
        self._insert_entries = DriverStatement(entry_insert(tables, with_jsonb=with_jsonb), column_keys=ENTRY_COLUMNS)
        self._advance = DriverStatement(self._advance_summary_statement())
        self._reads = self._point_reads()
        self._listener: AppendListener | None = None
        self._notify: DriverStatement | None = None
        if with_jsonb:
            channel = channel_name(table_prefix)
            self._notify = DriverStatement(sa.select(sa.func.pg_notify(channel, "")))
            if listen_url is not None:  # none through a transaction-mode pooler: a LISTEN needs a session
                self._listener = AppendListener(listener_conninfo(listen_url), channel)

    def _point_reads(self) -> dict[str, DriverStatement]:
        """The reads by key that every append and head request makes, built once with their parameters."""
        entries = self.tables.entries
        of_instance = entries.c.instance_id == sa.bindparam("instance_id")
        select = select_entries(self.tables)
        return {
            "head": DriverStatement(select.where(of_instance).order_by(entries.c.seq.desc()).limit(1)),
            "seq": DriverStatement(select.where(of_instance, entries.c.seq == sa.bindparam("seq"))),
        }

    def _read(self, name: str, **parameters: Any) -> StoredEntry | None:
        with self._engine.connect() as conn:
            found = [entry_from_values(values) for values in self._reads[name].rows(conn, parameters)]
        return found[0] if found else None

    @unavailable_on_database_error
    def head(self, instance_id: str) -> StoredEntry | None:
        """Return the entry with the highest seq."""
        return self._read("head", instance_id=instance_id)

    @unavailable_on_database_error
    def get_by_seq(self, instance_id: str, seq: int) -> StoredEntry | None:
        """Return the entry at ``seq``."""
        return self._read("seq", instance_id=instance_id, seq=seq)

    @unavailable_on_database_error
    def get_by_ids(self, instance_id: str, entry_ids: list[str]) -> dict[str, StoredEntry]:
        """Return the entries with these ids, in one query."""
        if not entry_ids:
            return {}
        entries = self.tables.entries
        # Expanding IN: compiled per call for the number of ids, so it stays with SQLAlchemy.
        statement = select_entries(self.tables).where(entries.c.instance_id == instance_id, entries.c.id.in_(entry_ids))
        with self._engine.connect() as conn:
            return {entry.id: entry for entry in map(entry_from_row, conn.execute(statement))}

    @unavailable_on_database_error
    def insert_many(
        self,
        entries: list[StoredEntry],
        projected: Sequence[ProjectedEntries] = (),
        frontier: Mapping[int, bytes] | None = None,
    ) -> None:
        """Insert the entries and their tree rows, advance the summary and write the projections in one
        transaction: all of it or none (the frontier is read from the tree rows, in the same transaction).

        Appends to one instance are serialised by its (instance_id, seq) key, so
        what a projection's hook reads in this transaction is what its entries follow.
        """
        try:
            with self._engine.begin() as conn:
                self._insert_entries.run_many(conn, [entry_row(entry, self._with_jsonb) for entry in entries])
                self._trees.insert_rows(conn, entries)
                self._advance_summary(conn, entries[0], entries[-1])
                for part in projected:
                    self._projection_hooks[part.projection].write(conn, part)
                if self._notify is not None:
                    self._notify.rows(conn)  # delivered when the transaction commits
        except IntegrityError:
            raise DuplicateEntry(0) from None

    def appending(self, instance_id: str) -> contextlib.AbstractContextManager[None]:
        """Queue this service's writers of the instance: on SQLite behind the one writer, on PostgreSQL
        on an advisory lock of the instance."""
        return self._engine.serialised(instance_id)

    def listen_for_appends(self, wake: Callable[[], None]) -> bool:
        """On PostgreSQL, LISTEN for the notification every append's transaction sends."""
        if self._listener is None:
            return False
        self._listener.start(wake)
        return True

    def head_seq(self, conn: Connection, instance_id: str) -> int:
        """The instance's highest seq as ``conn`` sees it; -1 when it has no entry."""
        entries = self.tables.entries
        head = conn.execute(sa.select(sa.func.max(entries.c.seq)).where(entries.c.instance_id == instance_id)).scalar()
        return -1 if head is None else int(head)

    def _advance_summary_statement(self) -> sa.Executable:
        """Make or move the instance's summary to a batch's last entry, unless it is ahead already."""
        instances = self.tables.instances
        upsert = self._engine.upsert(instances)
        upsert = upsert.values({name: sa.bindparam(f"summary_{name}") for name in instances.c.keys()})
        return upsert.on_conflict_do_update(
            index_elements=[instances.c.instance_id],
            set_={
                name: upsert.excluded[name]
                for name in ("count", "head_seq", "head_hash", "last_recorded_at", "head_type", "head_failed")
            },
            where=instances.c.head_seq < upsert.excluded.head_seq,
        )

    def _advance_summary(self, conn: Connection, first: StoredEntry, last: StoredEntry) -> None:
        summary = summary_of(first, last)
        self._advance.rows(conn, {f"summary_{name}": value for name, value in vars(summary).items()})

    @unavailable_on_database_error
    def find(self, instance_id: str, query: HistoryQuery) -> list[StoredEntry]:
        """Return one page of entries."""
        entries = self.tables.entries
        criteria = [entries.c.instance_id == instance_id]
        if query.after is not None:
            criteria.append(entries.c.seq > query.after)
        if query.before is not None:
            criteria.append(entries.c.seq < query.before)
        criteria += type_and_time(self.tables, query.type, query.since, query.until)
        order = entries.c.seq.asc() if query.direction == "forward" else entries.c.seq.desc()
        statement = select_entries(self.tables).where(*criteria).order_by(order).limit(query.limit)
        with self._engine.connect() as conn:
            return [entry_from_row(row) for row in conn.execute(statement)]

    @unavailable_on_database_error
    def types_of(self, instance_id: str, limit: int) -> list[str]:
        """Return the instance's types, in order: one lookup per type in the (instance_id, type, seq) index (a loose
        index scan), however many entries there are."""
        entries = self.tables.entries
        found: list[str] = []
        with self._engine.connect() as conn:
            while len(found) < limit:
                after = entries.c.type > found[-1] if found else entries.c.type >= ""
                following = conn.execute(
                    sa.select(sa.func.min(entries.c.type)).where(entries.c.instance_id == instance_id, after)
                ).scalar()
                if following is None:
                    return found
                found.append(following)
        return found

    def iter_chain(self, instance_id: str) -> Iterator[StoredEntry]:
        """Yield entries by ascending seq, CHAIN_BATCH rows per query (keyset paging)."""
        after = -1
        while True:
            batch = self.find(instance_id, HistoryQuery(after=after, limit=CHAIN_BATCH))
            yield from batch
            if len(batch) < CHAIN_BATCH:
                return
            after = batch[-1].seq


class SQLSearch(SearchIndex):
    """Entries of every instance by recorded time, from the entries table's time index."""

    def __init__(self, engine: ProcessLocalEngine, tables: Tables) -> None:
        self._engine = engine
        self.tables = tables

    @unavailable_on_database_error
    def search(self, query: SearchQuery, position: SearchPosition | None) -> list[StoredEntry]:
        """Search across instances by type and time, in (recorded_at, instance_id, seq) order."""
        entries = self.tables.entries
        criteria = [
            *type_and_time(self.tables, query.type, query.since, query.until),
            starts_with(entries.c.instance_id, query.within),
        ]
        if position is not None:
            criteria.append(
                sa.tuple_(entries.c.recorded_at, entries.c.instance_id, entries.c.seq)
                > sa.tuple_(*[sa.literal(v) for v in position])
            )
        statement = (
            select_entries(self.tables)
            .where(*criteria)
            .order_by(entries.c.recorded_at, entries.c.instance_id, entries.c.seq)
            .limit(query.limit)
        )
        with self._engine.connect() as conn:
            return [entry_from_row(row) for row in conn.execute(statement)]
