"""SQL schemas evolved with Alembic: every table and index of a release reaches a database an earlier one made.

Each owner of tables keeps its own branch of revisions in a directory of its own: the history's in
``history/sql/revisions/``, the current memory's in ``memory/revisions/`` (a projection names its directory,
``SQLProjectionHook.migrations``), the SQL state store's in ``stores/revisions/``. ``upgrade`` runs the
branches a store names to their heads, recording them in the store's own version table (one per table prefix,
one per state table). The first revision of each branch is the schema of release 1.0, reached from whatever an
earlier release left (``complete``); later revisions are ordinary Alembic operations. This package holds the
runner and Alembic's environment only.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

#: Alembic installs ``context`` and ``op`` as module globals while a migration runs, and removes them after: two
#: threads migrating at once (the history's and the state's databases, say) would take them from each other.
_ALEMBIC_IN_USE = threading.Lock()


def upgrade(engine: Engine, version_table: str, revisions: Sequence[Path], **attributes: Any) -> None:
    """Bring the branches in ``revisions`` to their heads, in one transaction, recorded in ``version_table``;
    ``attributes`` reach the revisions (the table prefix, the state table's name). Workers starting together
    take turns: on PostgreSQL an advisory lock on the version table, on SQLite the caller's writer lock; threads
    of one process take turns in any case."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", ":".join(str(path) for path in revisions))
    with _ALEMBIC_IN_USE, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            lock = int.from_bytes(hashlib.sha256(f"schema {version_table}".encode()).digest()[:8], "big", signed=True)
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        config.attributes.update(attributes, connection=conn, version_table=version_table)
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
