"""The SQL history's schema, evolved with Alembic: every table and index of a release reaches a database that an
earlier one made.

Each owner of tables in the database keeps its own branch of revisions: the history's are in ``versions/`` here,
and a projection's hook names its own directory (``SQLProjectionHook.migrations``; the memory's are in
``memory/migrations/``). One version table per table prefix records the head of every branch. The first
revision of each branch is the schema of release 1.0, reached from whatever an earlier release left
(``complete``); later revisions are ordinary Alembic operations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

#: The history's revisions, and Alembic's env.py beside them.
HISTORY_REVISIONS = Path(__file__).parent / "versions"


def version_table(table_prefix: str) -> str:
    """The table that records which revisions the tables of ``table_prefix`` are at."""
    return f"{table_prefix}_schema_version"


def upgrade(engine: Engine, table_prefix: str, revisions: Sequence[Path]) -> None:
    """Bring the tables of ``table_prefix`` to the head of every branch, in one transaction; workers starting
    together take turns (PostgreSQL: an advisory lock on the prefix; SQLite: the caller's writer lock)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", ":".join(str(path) for path in revisions))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            lock = int.from_bytes(hashlib.sha256(f"schema {table_prefix}".encode()).digest()[:8], "big", signed=True)
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        config.attributes.update(connection=conn, table_prefix=table_prefix)
        command.upgrade(config, "heads")


def complete(tables: Iterable[sa.Table]) -> None:
    """Inside a revision: create each table that is missing, and add to one an earlier release made the nullable
    columns and the indexes it lacks."""
    conn: Connection = op.get_bind()
    for table in tables:
        inspector = sa.inspect(conn)
        if not inspector.has_table(table.name):
            table.create(conn)
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                if not column.nullable:
                    raise RuntimeError(f"{table.name} lacks {column.name}, which no earlier release left out")
                op.add_column(table.name, column._copy())
        indexed = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexed:
                index.create(conn)
