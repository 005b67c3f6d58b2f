"""SQLHistoryStore: history on SQLite (the embedded default) or PostgreSQL, with SQLAlchemy Core.

An append inserts the entry and advances the instance summary in one short
transaction, so a crash leaves both or neither. ``data`` and ``metadata`` are
kept as their canonical JSON text, the exact bytes that are hashed; PostgreSQL
also keeps a JSONB copy so operators can query them with psql (JSONB cannot be
the record: it rewrites numbers such as 1e300 and refuses \\u0000).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from process_memory.db import ProcessLocalEngine, unavailable_on
from process_memory.exceptions import DuplicateEntry
from process_memory.history.entry import STORED_FIELDS, StoredEntry
from process_memory.history.projections import ProjectedEntries
from process_memory.history.sql.notify import AppendListener, channel_name
from process_memory.history.sql.projections import SQLProjectionHook
from process_memory.history.sql.redaction import SQLRedaction
from process_memory.history.sql.tables import (
    ENTRY_COLUMNS,
    build_tables,
    entry_from_row,
    entry_from_values,
    entry_insert,
    entry_row,
    starts_with,
    summary_from_row,
)
from process_memory.history.sql.trees import SQLTrees
from process_memory.history.store import HistoryQuery, HistoryStore, InstanceSummary, SearchQuery
from process_memory.paging import SearchPosition
from process_memory.statements import DriverStatement

#: Rows per round trip while walking a chain; each row holds at most DOCDB_MAX_DATA of inline data.
CHAIN_BATCH = 32

# OperationalError covers an unreachable server and SQLite's "database is locked" after the busy timeout.
_unavailable_on_database_error = unavailable_on(OperationalError)


class SQLHistoryStore(SQLTrees, SQLRedaction, HistoryStore):
    """History entries, summaries, trees and offloaded data in four SQL tables; projections' tables beside them."""

    def __init__(self, url: str, table_prefix: str = "process_memory", timeout_ms: int = 5000) -> None:
        dialect = make_url(url).get_backend_name()
        self.table_prefix = table_prefix
        self.tables = build_tables(table_prefix, dialect)
        #: Every table of the store's database: projections declare theirs here, and the schema is made from it.
        self.metadata = self.tables.entries.metadata
        self._engine = ProcessLocalEngine(url, timeout_ms, self.metadata)
        self._upsert = self._engine.upsert
        self._projection_hooks: dict[str, SQLProjectionHook] = {}
        # The append path's statements, built once: building them per request cost more than running them.
        self._insert_entries = DriverStatement(
            entry_insert(self.tables, with_jsonb=dialect == "postgresql"), column_keys=ENTRY_COLUMNS
        )
        self._advance = DriverStatement(self._advance_summary_statement())
        self._reads = self._point_reads()
        self._listener: AppendListener | None = None
        self._notify: DriverStatement | None = None
        if dialect == "postgresql":
            channel = channel_name(table_prefix)
            self._listener = AppendListener(url, channel)
            self._notify = DriverStatement(sa.select(sa.func.pg_notify(channel, "")))

    @property
    def engine(self) -> ProcessLocalEngine:
        """The store's engine, which projections' hooks and indexes use too."""
        return self._engine

    def _connect(self) -> Engine:
        return self._engine.get()

    def attach_projection(self, name: str, hook: object) -> None:
        """Write the projection ``name`` through ``hook`` (a SQLProjectionHook) in every insert's transaction."""
        if not isinstance(hook, SQLProjectionHook):
            raise TypeError(f"a SQL store keeps a projection through a SQLProjectionHook, not {type(hook).__name__}")
        self._projection_hooks[name] = hook

    @_unavailable_on_database_error
    def ensure_schema(self) -> None:
        """Create the tables and indexes when missing."""
        self._engine.create_schema()

    @_unavailable_on_database_error
    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        """Close this process's pooled connections."""
        self._engine.dispose()

    def describe(self) -> str:
        """Name the database without credentials, for the start-up line."""
        return self._engine.describe()

    # -- entries -------------------------------------------------------------

    def _select_entries(self) -> sa.Select[Any]:
        entries = self.tables.entries
        return sa.select(*[entries.c[name] for name in STORED_FIELDS], entries.c.data_blob)

    def _type_and_time(self, entry_type: str | None, since: str | None, until: str | None) -> list[Any]:
        entries = self.tables.entries
        criteria = []
        if entry_type is not None:
            criteria.append(entries.c.type == entry_type)
        if since is not None:
            criteria.append(entries.c.recorded_at >= since)
        if until is not None:
            criteria.append(entries.c.recorded_at < until)
        return criteria

    def _point_reads(self) -> dict[str, DriverStatement]:
        """The reads by key that every append and head request makes, built once with their parameters."""
        entries = self.tables.entries
        of_instance = entries.c.instance_id == sa.bindparam("instance_id")
        return {
            "head": DriverStatement(self._select_entries().where(of_instance).order_by(entries.c.seq.desc()).limit(1)),
            "seq": DriverStatement(self._select_entries().where(of_instance, entries.c.seq == sa.bindparam("seq"))),
        }

    def _read(self, name: str, **parameters: Any) -> list[StoredEntry]:
        with self._engine.connect() as conn:
            return [entry_from_values(values) for values in self._reads[name].rows(conn, parameters)]

    @_unavailable_on_database_error
    def head(self, instance_id: str) -> StoredEntry | None:
        """Return the entry with the highest seq."""
        found = self._read("head", instance_id=instance_id)
        return found[0] if found else None

    @_unavailable_on_database_error
    def get_by_seq(self, instance_id: str, seq: int) -> StoredEntry | None:
        """Return the entry at ``seq``."""
        found = self._read("seq", instance_id=instance_id, seq=seq)
        return found[0] if found else None

    @_unavailable_on_database_error
    def get_by_ids(self, instance_id: str, entry_ids: list[str]) -> dict[str, StoredEntry]:
        """Return the entries with these ids, in one query."""
        if not entry_ids:
            return {}
        entries = self.tables.entries
        # Expanding IN: compiled per call for the number of ids, so it stays with SQLAlchemy.
        statement = self._select_entries().where(entries.c.instance_id == instance_id, entries.c.id.in_(entry_ids))
        with self._engine.connect() as conn:
            return {entry.id: entry for entry in map(entry_from_row, conn.execute(statement))}

    @_unavailable_on_database_error
    def insert_many(self, entries: list[StoredEntry], projected: Sequence[ProjectedEntries] = ()) -> None:
        """Insert the entries, advance the summary and write the projections in one transaction: all of it or none.

        Appends to one instance are serialised by its (instance_id, seq) key, so
        what a projection's hook reads in this transaction is what its entries follow.
        """
        try:
            with self._engine.begin() as conn:
                self._insert_rows(conn, entries)
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

    def _insert_rows(self, conn: Connection, entries: list[StoredEntry]) -> None:
        with_jsonb = self._engine.dialect == "postgresql"
        self._insert_entries.run_many(conn, [entry_row(entry, with_jsonb) for entry in entries])
        self._insert_trees(conn, entries)

    def head_seq(self, conn: Connection, instance_id: str) -> int:
        """The instance's highest seq as ``conn`` sees it; -1 when it has no entry."""
        entries = self.tables.entries
        head = conn.execute(sa.select(sa.func.max(entries.c.seq)).where(entries.c.instance_id == instance_id)).scalar()
        return -1 if head is None else int(head)

    def _advance_summary_statement(self) -> sa.Executable:
        """Make or move the instance's summary to a batch's last entry, unless it is ahead already."""
        instances = self.tables.instances
        upsert = self._upsert(instances).values({name: sa.bindparam(f"summary_{name}") for name in instances.c.keys()})
        return upsert.on_conflict_do_update(
            index_elements=[instances.c.instance_id],
            set_={name: upsert.excluded[name] for name in ("count", "head_seq", "head_hash", "last_recorded_at")},
            where=instances.c.head_seq < upsert.excluded.head_seq,
        )

    def _advance_summary(self, conn: Connection, first: StoredEntry, entry: StoredEntry) -> None:
        summary = InstanceSummary(
            instance_id=entry.instance_id,
            count=entry.seq + 1,
            head_seq=entry.seq,
            head_hash=entry.hash,
            first_recorded_at=first.recorded_at,
            last_recorded_at=entry.recorded_at,
        )
        self._advance.rows(conn, {f"summary_{name}": value for name, value in vars(summary).items()})

    @_unavailable_on_database_error
    def find(self, instance_id: str, query: HistoryQuery) -> list[StoredEntry]:
        """Return one page of entries."""
        entries = self.tables.entries
        criteria = [entries.c.instance_id == instance_id]
        if query.after is not None:
            criteria.append(entries.c.seq > query.after)
        if query.before is not None:
            criteria.append(entries.c.seq < query.before)
        criteria += self._type_and_time(query.type, query.since, query.until)
        order = entries.c.seq.asc() if query.direction == "forward" else entries.c.seq.desc()
        statement = self._select_entries().where(*criteria).order_by(order).limit(query.limit)
        with self._engine.connect() as conn:
            return [entry_from_row(row) for row in conn.execute(statement)]

    @_unavailable_on_database_error
    def search(self, query: SearchQuery, position: SearchPosition | None) -> list[StoredEntry]:
        """Search across instances by type and time, in (recorded_at, instance_id, seq) order."""
        entries = self.tables.entries
        criteria = [
            *self._type_and_time(query.type, query.since, query.until),
            starts_with(entries.c.instance_id, query.within),
        ]
        if position is not None:
            criteria.append(
                sa.tuple_(entries.c.recorded_at, entries.c.instance_id, entries.c.seq)
                > sa.tuple_(*[sa.literal(v) for v in position])
            )
        statement = (
            self._select_entries()
            .where(*criteria)
            .order_by(entries.c.recorded_at, entries.c.instance_id, entries.c.seq)
            .limit(query.limit)
        )
        with self._engine.connect() as conn:
            return [entry_from_row(row) for row in conn.execute(statement)]

    def iter_chain(self, instance_id: str) -> Iterator[StoredEntry]:
        """Yield entries by ascending seq, CHAIN_BATCH rows per query (keyset paging)."""
        after = -1
        while True:
            batch = self.find(instance_id, HistoryQuery(after=after, limit=CHAIN_BATCH))
            yield from batch
            if len(batch) < CHAIN_BATCH:
                return
            after = batch[-1].seq

    # -- blobs ---------------------------------------------------------------

    @_unavailable_on_database_error
    def put_blob(self, instance_id: str, entry_id: str, compressed: bytes) -> str:
        """Store compressed data in the blobs table and return its id."""
        blob_id = str(uuid.uuid4())
        row = {
            "id": blob_id,
            "instance_id": instance_id,
            "entry_id": entry_id,
            "created_at": datetime.now(UTC).replace(tzinfo=None),
            "content": compressed,
        }
        # Values passed with the call, not built into the statement: SQLAlchemy's statement cache keeps
        # the first statement it compiles, and with it the first blob, for as long as the process runs.
        with self._engine.begin() as conn:
            conn.execute(self.tables.blobs.insert(), row)
        return blob_id

    @_unavailable_on_database_error
    def get_blob(self, ref: str) -> bytes:
        """Return a blob's content."""
        blobs = self.tables.blobs
        with self._engine.connect() as conn:
            content = conn.execute(sa.select(blobs.c.content).where(blobs.c.id == ref)).scalar()
        if content is None:
            raise KeyError(ref)
        return bytes(content)

    @_unavailable_on_database_error
    def delete_blob(self, ref: str) -> None:
        """Delete a blob."""
        with self._engine.begin() as conn:
            conn.execute(self.tables.blobs.delete().where(self.tables.blobs.c.id == ref))

    @_unavailable_on_database_error
    def delete_orphan_blobs(self, older_than: datetime) -> int:
        """Delete blobs older than ``older_than`` that no entry refers to."""
        blobs, entries = self.tables.blobs, self.tables.entries
        cutoff = older_than.astimezone(UTC).replace(tzinfo=None)
        referenced = sa.select(entries.c.data_blob).where(entries.c.data_blob == blobs.c.id).exists()
        with self._engine.begin() as conn:
            # Read inside the transaction: psycopg reports -1 once the connection is released.
            return conn.execute(blobs.delete().where(blobs.c.created_at < cutoff, ~referenced)).rowcount

    # -- summaries -----------------------------------------------------------

    def _summaries(self, criteria: Any, limit: int) -> list[InstanceSummary | None]:
        instances, entries = self.tables.instances, self.tables.entries
        # A summary behind its entries can only come from outside the service; repair it all the same.
        stale = (
            sa.select(entries.c.seq)
            .where(entries.c.instance_id == instances.c.instance_id, entries.c.seq == instances.c.head_seq + 1)
            .exists()
        )
        statement = (
            sa.select(instances, stale.label("stale")).where(criteria).order_by(instances.c.instance_id).limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(statement).all()
        return [self.repair_summary(row.instance_id) if row.stale else summary_from_row(row) for row in rows]

    @_unavailable_on_database_error
    def summary(self, instance_id: str) -> InstanceSummary | None:
        """Return the instance's summary."""
        found = self._summaries(self.tables.instances.c.instance_id == instance_id, 1)
        return found[0] if found else None

    @_unavailable_on_database_error
    def list_summaries(self, after: str | None, limit: int, prefix: str = "") -> list[InstanceSummary]:
        """Return summaries ordered by instance id (of ids that start with ``prefix``)."""
        column = self.tables.instances.c.instance_id
        criteria = sa.and_(column > after if after is not None else sa.true(), starts_with(column, prefix))
        return [summary for summary in self._summaries(criteria, limit) if summary is not None]

    def _save_summary_if_behind(self, summary: InstanceSummary) -> None:
        instances = self.tables.instances
        with self._engine.begin() as conn:
            conn.execute(
                instances.update()
                .where(instances.c.instance_id == summary.instance_id, instances.c.head_seq < summary.head_seq)
                .values(**summary.progress())
            )
