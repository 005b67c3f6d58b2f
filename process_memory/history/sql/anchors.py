"""The service log's tables on SQL (anchoring/leaves.py names them; anchoring/log.py reads and writes them through
the store's rows). Their history is in ``revisions/h0002_service_log.py``: a change here is also a revision."""

from __future__ import annotations

import sqlalchemy as sa

_ID = sa.String(128)
_TIMESTAMP = sa.String(24)


def declare_anchor_tables(prefix: str, metadata: sa.MetaData) -> None:
    """Declare the service log's five tables on the store's metadata."""
    sa.Table(
        f"{prefix}_anchor_leaves",
        metadata,
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("instance_id", _ID, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("leaf", sa.Text, nullable=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
        sa.Index(f"{prefix}_anchor_leaves_instance_size", "instance_id", "size"),
    )
    sa.Table(
        f"{prefix}_anchor_instances",
        metadata,
        sa.Column("instance_id", _ID, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    sa.Table(
        f"{prefix}_anchor_checkpoints",
        metadata,
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("cosigners", sa.Text, nullable=False),
        sa.Column("quorum", sa.Boolean, nullable=False),
        sa.Column("signed_at", _TIMESTAMP, nullable=False),
        sa.Index(f"{prefix}_anchor_checkpoints_quorum", "quorum", "size"),
    )
    sa.Table(
        f"{prefix}_anchor_witnesses",
        metadata,
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("refusal", sa.Text),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
    )
    sa.Table(
        f"{prefix}_anchor_leases",
        metadata,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
