"""The current memory's tables as release 1.0 has them, reached from any earlier release (see the history's
first revision: the same rule, frozen definitions, ``complete``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from process_memory.migrations import complete

revision = "m0001"
down_revision = None
branch_labels = ("memory",)
depends_on = None

_KEY = sa.String(128)


def upgrade() -> None:
    """Create or complete the views, reads, read tables and items tables."""
    prefix = context.config.attributes["table_prefix"]
    metadata = sa.MetaData()
    views = sa.Table(
        f"{prefix}_memory_views",
        metadata,
        sa.Column("instance_id", sa.String(128), primary_key=True),
        sa.Column("applied_seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, sa.BigInteger) for name in ("event_seq", "maps_seq", "entities_seq")],
        *[sa.Column(name, sa.Text) for name in ("event_json", "fork_json")],
        *[sa.Column(name, _KEY) for name in ("process_id", "scope", "image", "original_instance_id")],
        sa.Column("name", sa.Text),
        sa.Column("reference_date", sa.String(26)),
        sa.Column("event_time", sa.String(32)),
        sa.Index(f"{prefix}_memory_views_process_date", "process_id", "scope", "reference_date", "instance_id"),
        sa.Index(f"{prefix}_memory_views_original_time", "original_instance_id", "event_time", "instance_id"),
    )
    reads = sa.Table(
        f"{prefix}_memory_reads",
        metadata,
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, _KEY) for name in ("entity", "image", "table_name", "scope")],
        sa.Index(f"{prefix}_memory_reads_entity", "entity", "image", "table_name", "scope", "instance_id"),
        sa.Index(f"{prefix}_memory_reads_instance", "instance_id", "seq"),
    )
    read_tables = sa.Table(
        f"{prefix}_memory_read_tables",
        metadata,
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        *[sa.Column(name, _KEY) for name in ("image", "table_name", "scope")],
        sa.Index(f"{prefix}_memory_read_tables_tag", "image", "table_name", "scope", "instance_id"),
        sa.Index(f"{prefix}_memory_read_tables_instance", "instance_id", "seq"),
    )
    items = sa.Table(
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
    complete([views, reads, read_tables, items])
