"""DriverStatement.read and .changed: a read on a pooled connection, and a write's row count (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from process_memory.statements import DriverStatement
from tests.test_statements import SECRET, engine, table  # noqa: F401  (fixtures)


def test_a_read_returns_its_rows_and_its_connection(engine: sa.Engine, table: sa.Table) -> None:  # noqa: F811
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"k": "a", "n": 1}, {"k": "b", "n": 2}])
    read = DriverStatement(sa.select(table.c.n).where(table.c.k == sa.bindparam("key")))
    assert read.read(engine, {"key": "b"}) == [(2,)] and read.read(engine, {"key": "z"}) == []
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_failed_read_hides_its_values_and_returns_its_connection(engine: sa.Engine, table: sa.Table) -> None:  # noqa: F811
    broken = DriverStatement(sa.text(f"SELECT n FROM {table.name} WHERE no_such_column = :key"))
    with pytest.raises(sa.exc.DBAPIError) as raised:
        broken.read(engine, {"key": SECRET})
    assert SECRET not in str(raised.value) and engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_write_counts_the_rows_it_changed(engine: sa.Engine, table: sa.Table) -> None:  # noqa: F811
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"k": "a", "n": 1}, {"k": "b", "n": 1}, {"k": "c", "n": 2}])
    bump = DriverStatement(table.update().where(table.c.n == sa.bindparam("old")).values(n=sa.bindparam("new")))
    with engine.begin() as conn:
        assert bump.changed(conn, {"old": 1, "new": 5}) == 2
        assert bump.changed(conn, {"old": 9, "new": 5}) == 0
    assert DriverStatement(sa.select(sa.func.sum(table.c.n))).read(engine) == [(12,)]
