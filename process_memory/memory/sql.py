"""The current memory's tables on SQL: their columns and the indexes each query of memory/index.py reads
(tests/test_memory_plans.py checks the plans), and the hook that keeps them in each insert's transaction.

Their history is in ``memory/revisions/`` (Alembic): a change here is also a revision there.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from process_memory.history.rows import RowWriter
from process_memory.history.sql import SQLHistoryStore
from process_memory.history.sql.projections import SQLRowsHook
from process_memory.memory.document import MAX_KEY_LENGTH

MIGRATIONS = Path(__file__).parent / "revisions"
_KEY = sa.String(MAX_KEY_LENGTH)
#: A date key: ISO 8601 with microseconds, fixed width, so it sorts as text.
_DATE = sa.String(26)


def declare_memory_tables(prefix: str, metadata: sa.MetaData) -> None:
    """Declare the four memory tables on the store's metadata."""
    sa.Table(
        f"{prefix}_memory_views",
        metadata,
        sa.Column("instance_id", sa.String(128), primary_key=True),
        sa.Column("applied_seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, sa.BigInteger) for name in ("event_seq", "maps_seq", "entities_seq")],
        *[sa.Column(name, sa.Text) for name in ("event_json", "fork_json")],
        *[sa.Column(name, _KEY) for name in ("process_id", "scope", "image", "original_instance_id")],
        sa.Column("name", sa.Text),
        sa.Column("reference_date", _DATE),
        sa.Column("event_time", sa.String(32)),
        sa.Index(f"{prefix}_memory_views_process_date", "process_id", "scope", "reference_date", "instance_id"),
        sa.Index(f"{prefix}_memory_views_original_time", "original_instance_id", "event_time", "instance_id"),
    )
    sa.Table(
        f"{prefix}_memory_reads",
        metadata,
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, _KEY) for name in ("entity", "image", "table_name", "scope")],
        sa.Column("position", sa.Integer),
        sa.Index(f"{prefix}_memory_reads_entity", "entity", "image", "table_name", "scope", "instance_id"),
        sa.Index(f"{prefix}_memory_reads_instance", "instance_id", "seq"),
    )
    sa.Table(
        f"{prefix}_memory_read_tables",
        metadata,
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, _KEY) for name in ("image", "table_name", "scope")],
        sa.Column("position", sa.Integer),
        sa.Index(f"{prefix}_memory_read_tables_tag", "image", "table_name", "scope", "instance_id"),
        sa.Index(f"{prefix}_memory_read_tables_instance", "instance_id", "seq"),
    )
    sa.Table(
        f"{prefix}_memory_items",
        metadata,
        sa.Column("instance_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("type", _KEY),
        sa.Column("item_json", sa.Text, nullable=False),
        sa.Index(f"{prefix}_memory_items_type", "instance_id", "kind", "type"),
    )


def memory_hook(history: SQLHistoryStore, writer: RowWriter) -> SQLRowsHook:
    """Declare the tables in the store's database and return the hook that writes them in its inserts."""
    declare_memory_tables(history.table_prefix, history.metadata)
    return SQLRowsHook(history.rows, writer, MIGRATIONS)
