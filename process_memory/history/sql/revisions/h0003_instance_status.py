"""Each instance's summary keeps its last entry's type and whether that entry records a failure (history/failures.py),
so that the instance list shows a status, filters on it and sorts by size from the summaries alone; and their
indexes. A summary written before is left without them (unknown) until its instance's next append."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "h0003"
down_revision = "h0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns, and index the listings that filter or sort on them."""
    prefix = context.config.attributes["table_prefix"]
    instances = f"{prefix}_instances"
    op.add_column(instances, sa.Column("head_type", sa.String(256)))
    op.add_column(instances, sa.Column("head_failed", sa.Boolean))
    op.create_index(f"{instances}_head_type", instances, ["head_type", "last_recorded_at", "instance_id"])
    op.create_index(
        f"{instances}_failed",
        instances,
        ["last_recorded_at", "instance_id"],
        postgresql_where=sa.text("head_failed"),
        sqlite_where=sa.text("head_failed"),
    )
