"""The SQL state store's table as release 1.0 has it, reached from any earlier release (the rule of the
history's first revision: frozen definitions, ``complete``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from process_memory.migrations import complete

revision = "s0001"
down_revision = None
branch_labels = ("state",)
depends_on = None


def upgrade() -> None:
    """Create or complete the state table: one row per (namespace, key), with an index for expiry sweeps."""
    name = context.config.attributes["state_table"]
    table = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("namespace", sa.String(512), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.Float),
        sa.Index(f"{name}_expires_at", "expires_at"),
    )
    complete([table])
