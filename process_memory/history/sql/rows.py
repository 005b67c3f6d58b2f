"""Projections' rows on SQL (history/rows.py): tables the projection declares on the store's metadata, each
operation in its own transaction or in the one it is bound to (an insert's, a ``transaction``'s)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from process_memory.db import ProcessLocalEngine
from process_memory.exceptions import StoreUnavailable
from process_memory.history.rows import (
    After,
    AnyOf,
    Compare,
    Condition,
    In,
    Order,
    Row,
    RowStore,
    RowTable,
    key_of,
)
from process_memory.history.sql.tables import starts_with

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda column, value: column == value,
    "<": lambda column, value: column < value,
    "<=": lambda column, value: column <= value,
    ">": lambda column, value: column > value,
    ">=": lambda column, value: column >= value,
}


def _clause(table: sa.Table, condition: Condition) -> Any:
    if isinstance(condition, Compare):
        return _OPERATORS[condition.op](table.c[condition.column], condition.value)
    if isinstance(condition, In):
        return table.c[condition.column].in_(condition.values)
    if isinstance(condition, After):
        columns = [table.c[name] for name in condition.columns]
        return sa.tuple_(*columns) > sa.tuple_(*map(sa.literal, condition.values))
    if isinstance(condition, AnyOf):
        return sa.or_(*(sa.and_(*_clauses(table, alternative)) for alternative in condition.alternatives))
    return starts_with(table.c[condition.column], condition.prefix)


def _clauses(table: sa.Table, where: Sequence[Condition]) -> list[Any]:
    return [_clause(table, condition) for condition in where]


class SQLRows(RowStore):
    """The projections' tables of a SQL history store."""

    transactional = True

    def __init__(
        self,
        engine: ProcessLocalEngine,
        metadata: sa.MetaData,
        table_prefix: str,
        head_seq: Callable[[Connection, str], int],
        conn: Connection | None = None,
    ) -> None:
        self._engine = engine
        self._metadata = metadata
        self._prefix = table_prefix
        self._head_seq = head_seq
        self._conn = conn

    def table(self, table: RowTable) -> sa.Table:
        """The SQLAlchemy table a projection declared for ``table``."""
        return self._metadata.tables[f"{self._prefix}_{table.name}"]

    def bound(self, conn: Connection) -> SQLRows:
        """These rows inside ``conn``'s transaction."""
        return SQLRows(self._engine, self._metadata, self._prefix, self._head_seq, conn)

    @contextlib.contextmanager
    def _connection(self, write: bool) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
            return
        with self._engine.begin() if write else self._engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def transaction(self, durable: bool = True) -> Iterator[RowStore]:
        """One transaction for every operation of the block; not ``durable``: committed without waiting for the
        flush on PostgreSQL (SQLite's one writer commits as it always does)."""
        with self._connection(write=True) as conn:
            if not durable and self._conn is None and self._engine.dialect == "postgresql":
                conn.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
            yield self.bound(conn)

    def wait_until_durable(self) -> None:
        """On PostgreSQL, commit a transaction that waits for its flush, and so for that of every commit before
        it (the log is flushed in order); elsewhere every commit is already on disk. StoreUnavailable (503) when
        the database fails."""
        if self._engine.dialect != "postgresql":
            return
        # A transaction that wrote to the log commits by flushing it up to its own record, sharing the flush with
        # the appends' commits; a logical message is the least it can write (any role may, at any wal_level; an
        # xid alone writes nothing, and polling how far the log was flushed cost a query every 5 ms, up to 200 ms).
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.text("SELECT pg_logical_emit_message(true, 'process-memory', 'durable')"))
        except sa.exc.DBAPIError:
            raise StoreUnavailable("the database did not flush its log") from None

    def find(
        self,
        table: RowTable,
        where: Sequence[Condition],
        order: Sequence[Order] = (),
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        distinct: bool = False,
    ) -> list[Row]:
        """SELECT (DISTINCT) the rows."""
        sql = self.table(table)
        selected = [sql.c[name] for name in columns] if columns else [sql]
        statement = sa.select(*selected).where(*_clauses(sql, where))
        if distinct:
            statement = statement.distinct()
        statement = statement.order_by(
            *(sql.c[name].desc() if descending else sql.c[name] for name, descending in order)
        )
        if limit is not None:
            statement = statement.limit(limit)
        with self._connection(write=False) as conn:
            return [dict(row._mapping) for row in conn.execute(statement)]

    def put(self, table: RowTable, row: Row, only_if: Sequence[Condition] = (), insert: bool = True) -> bool:
        """One statement: INSERT … ON CONFLICT DO UPDATE … WHERE ``only_if`` (an UPDATE when not ``insert``)."""
        sql = self.table(table)
        key = key_of(table, row)
        changes = {name: value for name, value in row.items() if name not in key}
        conditions = _clauses(sql, only_if)
        if insert:
            statement = self._engine.upsert(sql).values(**row)
            statement = statement.on_conflict_do_update(
                index_elements=list(key), set_=changes, where=sa.and_(*conditions) if conditions else None
            )
        else:
            matching = [sql.c[name] == value for name, value in key.items()]
            statement = sql.update().where(*matching, *conditions).values(**changes)
        with self._connection(write=True) as conn:
            return bool(_count(conn, statement))

    def add(self, table: RowTable, rows: list[Row], replace: bool = False) -> None:
        """INSERT the rows, skipping those whose key is taken (or updating them, when ``replace``): on PostgreSQL
        one statement over a column of values each (psycopg sends an executemany as a statement per row, whose
        Python work a round of hundreds of leaves feels); on SQLite an executemany, which its driver loops in C."""
        if not rows:
            return
        sql = self.table(table)
        names = list(rows[0])
        insert = self._engine.upsert(sql)
        postgres = self._engine.dialect == "postgresql"
        if postgres:
            columns = [sa.cast([row[name] for row in rows], postgresql.ARRAY(sql.c[name].type)) for name in names]
            added = sa.func.unnest(*columns).table_valued(*names).render_derived(name="added")
            insert = insert.from_select(names, sa.select(added))
        if replace:
            changed = {name: insert.excluded[name] for name in names if name not in table.key}
            statement = insert.on_conflict_do_update(index_elements=list(table.key), set_=changed)
        else:
            statement = insert.on_conflict_do_nothing()
        with self._connection(write=True) as conn:
            if postgres:
                conn.execute(statement)
            else:
                conn.execute(statement, rows)

    def delete(self, table: RowTable, where: Sequence[Condition]) -> None:
        """DELETE the rows."""
        sql = self.table(table)
        with self._connection(write=True) as conn:
            conn.execute(sql.delete().where(*_clauses(sql, where)))

    def raise_mark(self, table: RowTable, row: Row, column: str, value: int, mark: Row) -> Row | None:
        """Read the row and write it back raised, in one transaction."""
        with self.transaction() as rows:
            found = rows.find(table, [Compare(name, "==", v) for name, v in key_of(table, row).items()])
            before = found[0] if found else None
            raised = max(value, before[column]) if before is not None and before[column] is not None else value
            rows.put(table, {**(before or row), column: raised, **mark})
            return before

    def head_seq(self, instance_id: str) -> int:
        """The head as this transaction sees it."""
        with self._connection(write=False) as conn:
            return self._head_seq(conn, instance_id)


def _count(conn: Connection, statement: Any) -> int:
    # An upsert's count says whether a condition held; SQLAlchemy keeps it for INSERT only when asked.
    return int(conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount)
