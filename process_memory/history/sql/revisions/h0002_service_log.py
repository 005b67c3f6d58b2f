"""The service log's tables (docs/proofs.md, "The service log"), and the index an anchoring round reads the
instances it looks at from: summaries by the time of their last entry."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "h0002"
down_revision = "h0001"
branch_labels = None
depends_on = None

_ID = sa.String(128)
_TIMESTAMP = sa.String(24)


def upgrade() -> None:
    """Create the five anchor tables and index the instances by their last entry's time."""
    prefix = context.config.attributes["table_prefix"]
    op.create_index(f"{prefix}_instances_last_recorded_at", f"{prefix}_instances", ["last_recorded_at", "instance_id"])
    op.create_table(
        f"{prefix}_anchor_leaves",
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("instance_id", _ID, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("leaf", sa.Text, nullable=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    op.create_index(f"{prefix}_anchor_leaves_instance_size", f"{prefix}_anchor_leaves", ["instance_id", "size"])
    op.create_table(
        f"{prefix}_anchor_instances",
        sa.Column("instance_id", _ID, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        f"{prefix}_anchor_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("cosigners", sa.Text, nullable=False),
        sa.Column("quorum", sa.Boolean, nullable=False),
        sa.Column("signed_at", _TIMESTAMP, nullable=False),
    )
    op.create_index(f"{prefix}_anchor_checkpoints_quorum", f"{prefix}_anchor_checkpoints", ["quorum", "size"])
    op.create_table(
        f"{prefix}_anchor_witnesses",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("refusal", sa.Text),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
    )
    op.create_table(
        f"{prefix}_anchor_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
