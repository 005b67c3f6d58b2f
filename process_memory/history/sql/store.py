"""SQLHistoryStore: history on SQLite (the embedded default) or PostgreSQL, with SQLAlchemy Core.

One object per capability (entries.py, summaries.py, blobs.py, trees.py, redaction.py), all on one engine
and one set of tables; projections declare their own tables on the same metadata (memory/sql.py).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from process_memory.db import DEFAULT_TIMEOUT_MS, ProcessLocalEngine
from process_memory.history.sql.anchors import declare_anchor_tables
from process_memory.history.sql.blobs import SQLBlobs
from process_memory.history.sql.entries import SQLEntries, SQLSearch, unavailable_on_database_error
from process_memory.history.sql.projections import SQLProjectionHook
from process_memory.history.sql.redaction import SQLErasure
from process_memory.history.sql.rows import SQLRows
from process_memory.history.sql.summaries import SQLSummaries
from process_memory.history.sql.tables import build_tables
from process_memory.history.sql.trees import SQLTrees
from process_memory.history.store import HistoryStore
from process_memory.migrations import upgrade

#: The history's Alembic revisions (process_memory/migrations says how they are run).
HISTORY_REVISIONS = Path(__file__).parent / "revisions"


class SQLHistoryStore(HistoryStore):
    """History entries, summaries, trees and offloaded data in four SQL tables; projections' tables beside them."""

    backend = "sql"
    entries: SQLEntries
    rows: SQLRows

    def __init__(
        self,
        url: str,
        table_prefix: str = "process_memory",
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        transaction_pooler: bool = False,
        listen_url: str | None = None,
    ) -> None:
        """The store on ``url``; through a transaction-mode pooler, statements are not prepared on the server, and
        the live tail LISTENs on ``listen_url`` (past the pooler) or, without one, not at all."""
        dialect = make_url(url).get_backend_name()
        self.table_prefix = table_prefix
        self.tables = build_tables(table_prefix, dialect)
        #: Every table of the store's database: projections declare theirs here, and the schema is made from it.
        self.metadata = self.tables.entries.metadata
        declare_anchor_tables(table_prefix, self.metadata)
        self.engine = ProcessLocalEngine(
            url, timeout_ms, self.metadata, schema=self._migrate, prepared_statements=not transaction_pooler
        )
        self._projection_hooks: dict[str, SQLProjectionHook] = {}
        self.trees = SQLTrees(self.engine, self.tables)
        # A LISTEN needs a session of its own: through a transaction-mode pooler, only on a URL past it.
        if listen_url:
            listen: URL | None = make_url(listen_url)
        else:
            listen = None if transaction_pooler else self.engine.url
        self.entries = SQLEntries(self.engine, self.tables, self.trees, self._projection_hooks, table_prefix, listen)
        self.summaries = SQLSummaries(self.engine, self.tables, self.entries)
        self.blobs = SQLBlobs(self.engine, self.tables)
        self.search_index = SQLSearch(self.engine, self.tables)
        self.erasure = SQLErasure(self.engine, self.tables)
        self.rows = SQLRows(self.engine, self.metadata, table_prefix, self.entries.head_seq)

    def _migrate(self, engine: Engine) -> None:
        """Run the history's revisions and every projection's (process_memory/migrations), then create the
        tables of projections that have none yet as they declare them."""
        revisions = [hook.migrations for hook in self._projection_hooks.values() if hook.migrations is not None]
        version_table = f"{self.table_prefix}_schema_version"
        upgrade(engine, version_table, [HISTORY_REVISIONS, *revisions], table_prefix=self.table_prefix)
        self.metadata.create_all(engine)

    def _connect(self) -> Engine:
        return self.engine.get()

    def head_seq(self, conn: Connection, instance_id: str) -> int:
        """The instance's highest seq as ``conn`` sees it; -1 when it has no entry."""
        return self.entries.head_seq(conn, instance_id)

    def attach_projection(self, name: str, hook: object) -> None:
        """Write the projection ``name`` through ``hook`` (a SQLProjectionHook) in every insert's transaction."""
        if not isinstance(hook, SQLProjectionHook):
            raise TypeError(f"a SQL store keeps projections through SQLProjectionHooks, not {type(hook).__name__}")
        self._projection_hooks[name] = hook

    @unavailable_on_database_error
    def ensure_schema(self) -> None:
        """Create the tables and indexes when missing."""
        self.engine.create_schema()

    @unavailable_on_database_error
    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        """Close this process's pooled connections."""
        self.engine.dispose()

    def describe(self) -> str:
        """Name the database without credentials, for the start-up line."""
        return self.engine.describe()
