"""Statements SQLAlchemy compiles once and the database driver runs: the append path's few small queries.

An append runs a handful of statements, each a few microseconds of work for
SQLite. SQLAlchemy's per-execution work around them (parameter processing,
result set-up, compiling each SAVEPOINT construct afresh) cost several times
more CPU than the statements themselves, and the append path is CPU-bound
(docs/benchmarks.md). So these statements are still built with SQLAlchemy,
compiled once per dialect, and then run on the driver's own cursor of the
same pooled connection, inside the same transaction.

Only for statements whose values need no conversion on the way in or out:
text, integers, floats and bytes, as the history's entries and summaries and
the state table hold. Driver
errors come out as SQLAlchemy's, exactly as ``Connection.execute`` raises
them, with their parameters hidden (they may quote data).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: The parameters' names in order for a positional paramstyle; None when the driver takes a mapping.
    names: tuple[str, ...] | None
    #: The values the statement itself binds (a LIMIT's, say).
    given: dict[str, Any]

    def values(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        merged = {**self.given, **values}
        return merged if self.names is None else tuple(merged[name] for name in self.names)


class DriverStatement:
    """One statement, compiled on first use for the connection's dialect, run on its driver cursor."""

    def __init__(
        self, statement: sa.ClauseElement | sa.Executable | str, column_keys: Sequence[str] | None = None
    ) -> None:
        """``column_keys``: the columns an INSERT sets from its parameters, as ``Connection.execute`` infers them."""
        self._statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: _Compiled | None = None

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        if self._compiled is None:
            if isinstance(self._statement, str):
                self._compiled = _Compiled(self._statement, (), {})
            else:
                statement: Any = self._statement
                compiled = statement.compile(dialect=dialect, column_keys=self._column_keys)
                # qmark (SQLite) takes values in order; pyformat (psycopg) takes the mapping itself.
                names = tuple(compiled.positiontup or ()) if compiled.positional else None
                self._compiled = _Compiled(compiled.string, names, dict(compiled.params))
        return self._compiled

    def rows(self, conn: Connection, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run the statement with ``values``; return the rows it returned (none for a write)."""
        compiled = self._compile(conn.dialect)
        with _driver_cursor(conn.connection.driver_connection, conn.dialect, compiled.sql, conn.invalidate) as cursor:
            cursor.execute(compiled.sql, compiled.values(values or {}))
            return list(cursor.fetchall()) if cursor.description else []

    def read(self, engine: sa.Engine, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a read outside any transaction on a pooled connection of ``engine``; return its rows.

        No SQLAlchemy Connection is made around it: for a one-row read that cost
        more than the read (a state get: 37 us through one, 18 us without).
        """
        compiled = self._compile(engine.dialect)
        pooled = engine.raw_connection()
        try:
            with _driver_cursor(pooled.driver_connection, engine.dialect, compiled.sql, pooled.invalidate) as cursor:
                cursor.execute(compiled.sql, compiled.values(values or {}))
                return list(cursor.fetchall())
        finally:
            pooled.close()

    def changed(self, conn: Connection, values: Mapping[str, Any] | None = None) -> int:
        """Run a write with ``values``; return how many rows it changed (an upsert's tells whether it wrote)."""
        compiled = self._compile(conn.dialect)
        with _driver_cursor(conn.connection.driver_connection, conn.dialect, compiled.sql, conn.invalidate) as cursor:
            cursor.execute(compiled.sql, compiled.values(values or {}))
            return int(cursor.rowcount)

    def run_many(self, conn: Connection, rows: list[Mapping[str, Any]]) -> None:
        """Run the statement once per row of values (an INSERT of many rows)."""
        compiled = self._compile(conn.dialect)
        with _driver_cursor(conn.connection.driver_connection, conn.dialect, compiled.sql, conn.invalidate) as cursor:
            cursor.executemany(compiled.sql, [compiled.values(row) for row in rows])


@contextlib.contextmanager
def _driver_cursor(raw: Any, dialect: sa.Dialect, sql: str, invalidate: Callable[[], None]) -> Iterator[Any]:
    """A cursor of the driver's connection ``raw``; its errors raised as SQLAlchemy's, a lost connection invalidated
    (``invalidate``: the SQLAlchemy connection's own, or the pooled connection's)."""
    dbapi_error = dialect.loaded_dbapi.Error
    cursor = raw.cursor()
    try:
        yield cursor
    except dbapi_error as error:
        lost = dialect.is_disconnect(error, raw, cursor)
        if lost:
            invalidate()
        raise sa.exc.DBAPIError.instance(
            sql, None, error, dbapi_error, hide_parameters=True, connection_invalidated=lost, dialect=dialect
        ) from None
    finally:
        cursor.close()


_SAVEPOINT = DriverStatement("SAVEPOINT process_memory_write")
_RELEASE = DriverStatement("RELEASE SAVEPOINT process_memory_write")
_ROLLBACK_TO = DriverStatement("ROLLBACK TO SAVEPOINT process_memory_write")


@contextlib.contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """Undo the block's writes when it raises, and only them: the rest of the transaction stays."""
    _SAVEPOINT.rows(conn)
    try:
        yield
    except BaseException:
        with contextlib.suppress(sa.exc.DBAPIError):  # the transaction itself failed: its end reports it
            _ROLLBACK_TO.rows(conn)
            _RELEASE.rows(conn)
        raise
    _RELEASE.rows(conn)
