"""The history's tables as release 1.0 has them, reached from any earlier release.

Earlier releases made the tables with ``create_all`` and added nullable columns at start-up; a new index never
reached a table they had made. This revision creates what is missing and adds the columns and indexes an earlier
release's tables lack. The definitions are frozen here: a later change is a later revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from process_memory.migrations import complete

revision = "h0001"
down_revision = None
branch_labels = ("history",)
depends_on = None

_ID = sa.String(128)
_TIMESTAMP = sa.String(24)


def _entries(prefix: str, metadata: sa.MetaData) -> sa.Table:
    """The entries; PostgreSQL also keeps JSONB copies of the JSON fields, for psql."""
    jsonb = op.get_bind().dialect.name == "postgresql"
    return sa.Table(
        f"{prefix}_entries",
        metadata,
        sa.Column("instance_id", _ID, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(256), nullable=False),
        sa.Column("occurred_at", _TIMESTAMP),
        sa.Column("recorded_at", _TIMESTAMP, nullable=False),
        sa.Column("recorded_by", sa.String(64)),
        sa.Column("metadata_json", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64)),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("data_json", sa.Text),
        sa.Column("redacted_json", sa.Text),
        sa.Column("data_blob", sa.String(36)),
        *[sa.Column(name, postgresql.JSONB) for name in ("metadata", "data", "redacted") if jsonb],
        sa.UniqueConstraint("instance_id", "id", name=f"{prefix}_entries_instance_entry_id"),
        sa.Index(f"{prefix}_entries_instance_type_seq", "instance_id", "type", "seq"),
        sa.Index(f"{prefix}_entries_instance_recorded_at", "instance_id", "recorded_at"),
        sa.Index(f"{prefix}_entries_data_blob", "data_blob"),
        sa.Index(f"{prefix}_entries_type_recorded_at", "type", "recorded_at", "instance_id", "seq"),
        sa.Index(f"{prefix}_entries_recorded_at", "recorded_at", "instance_id", "seq"),
    )


def upgrade() -> None:
    """Create or complete the entries, instances, blobs and trees tables."""
    prefix = context.config.attributes["table_prefix"]
    metadata = sa.MetaData()
    entries = _entries(prefix, metadata)
    instances = sa.Table(
        f"{prefix}_instances",
        metadata,
        sa.Column("instance_id", _ID, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("head_seq", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64)),
        sa.Column("first_recorded_at", _TIMESTAMP, nullable=False),
        sa.Column("last_recorded_at", _TIMESTAMP, nullable=False),
    )
    blobs = sa.Table(
        f"{prefix}_blobs",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("instance_id", _ID, nullable=False),
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Index(f"ix_{prefix}_blobs_created_at", "created_at"),
    )
    trees = sa.Table(
        f"{prefix}_trees",
        metadata,
        sa.Column("instance_id", _ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    complete([entries, instances, blobs, trees])
