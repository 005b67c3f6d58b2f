"""How a SQL store keeps a projection: its hook writes the projection's rows in the insert's own transaction."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from sqlalchemy.engine import Connection

from process_memory.history.projections import ProjectedEntries
from process_memory.history.rows import RowWriter
from process_memory.history.sql.rows import SQLRows


class SQLProjectionHook(ABC):
    """A projection's writer on SQL. Its tables are declared on the store's metadata, and its Alembic revisions
    (a branch of its own) bring them up to date with the store's; a projection without revisions yet has its
    tables created as declared."""

    #: The directory of the projection's revisions (process_memory/migrations says how they are run), if any.
    migrations: Path | None = None

    @abstractmethod
    def write(self, conn: Connection, projected: ProjectedEntries) -> None:
        """Write the projection's part of an insert on ``conn``, inside the insert's transaction: both or neither."""


class SQLRowsHook(SQLProjectionHook):
    """The hook of a projection written against ``RowStore`` (history/rows.py): announced and written in the
    insert's transaction, on rows bound to it."""

    def __init__(self, rows: SQLRows, writer: RowWriter, migrations: Path | None = None) -> None:
        self.rows = rows
        self.writer = writer
        self.migrations = migrations

    def write(self, conn: Connection, projected: ProjectedEntries) -> None:
        """Let the writer announce and write on ``conn``."""
        rows = self.rows.bound(conn)
        self.writer.write(rows, projected, self.writer.announce(rows, projected))
