"""DriverStatement and savepoint: SQLAlchemy-built statements run on the driver's cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from process_memory.statements import DriverStatement, savepoint

SECRET = "payload-that-must-not-leak"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine of each SQL backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").url
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def table(engine: sa.Engine) -> Iterator[sa.Table]:
    """A two-column table of its own."""
    metadata = sa.MetaData()
    created = sa.Table(
        f"t_{uuid.uuid4().hex[:10]}",
        metadata,
        sa.Column("k", sa.String(64), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    metadata.create_all(engine)
    yield created
    metadata.drop_all(engine)


def _keys(engine: sa.Engine, table: sa.Table) -> list[str]:
    with engine.connect() as conn:
        return [row.k for row in conn.execute(sa.select(table.c.k).order_by(table.c.k))]


def test_inserts_and_reads_with_the_statement_s_own_bound_values(engine: sa.Engine, table: sa.Table) -> None:
    insert = DriverStatement(table.insert(), column_keys=["k", "n"])
    first_two = DriverStatement(sa.select(table.c.k, table.c.n).where(table.c.n >= sa.bindparam("at")).limit(2))
    with engine.begin() as conn:
        insert.run_many(conn, [{"k": f"k{n}", "n": n} for n in range(5)])
        # The LIMIT's value is the statement's, the other the caller's.
        assert first_two.rows(conn, {"at": 3}) in ([("k3", 3), ("k4", 4)], [("k4", 4), ("k3", 3)])
    assert _keys(engine, table) == [f"k{n}" for n in range(5)]


def test_a_driver_error_is_sqlalchemy_s_with_its_values_hidden(engine: sa.Engine, table: sa.Table) -> None:
    insert = DriverStatement(table.insert(), column_keys=["k", "n"])
    with engine.begin() as conn:
        insert.run_many(conn, [{"k": SECRET, "n": 1}])
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError) as raised:
        insert.run_many(conn, [{"k": SECRET, "n": 2}])
    # PostgreSQL's own message may quote the key (the service never shows it); the values bound are not listed.
    assert raised.value.hide_parameters and raised.value.params is None
    assert SECRET not in str(raised.value).split("[SQL:")[1]


def test_a_savepoint_undoes_only_its_own_block(engine: sa.Engine, table: sa.Table) -> None:
    insert = DriverStatement(table.insert(), column_keys=["k", "n"])
    with engine.begin() as conn:
        insert.run_many(conn, [{"k": "kept", "n": 1}])
        with pytest.raises(sa.exc.IntegrityError), savepoint(conn):
            insert.run_many(conn, [{"k": "undone", "n": 2}])
            insert.run_many(conn, [{"k": "kept", "n": 3}])  # a duplicate: the block fails
        with savepoint(conn):
            insert.run_many(conn, [{"k": "after", "n": 4}])
    assert _keys(engine, table) == ["after", "kept"]
