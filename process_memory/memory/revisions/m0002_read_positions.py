"""Each read row keeps its place among its entry's reads: the memory's rows are written once for every backend
(memory/index.py), and on MongoDB that place is part of the row's key. Rows from before have none."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable ``position`` to the reads and the read tables."""
    prefix = context.config.attributes["table_prefix"]
    for table in ("memory_reads", "memory_read_tables"):
        op.add_column(f"{prefix}_{table}", sa.Column("position", sa.Integer))
