"""Each instance's summary keeps its last entry's type and whether that entry records a failure (history/failures.py),
so that the instance list shows a status, filters on it and sorts by size from the summaries alone; and the
instance its first entry says it was copied from, so that an instance's page lists its copies; and their indexes.
A summary written before is left without the first two (unknown) until its instance's next append, and without
the origin for good (copies made before are linked one way only: from the copy's entries)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "h0003"
down_revision = "h0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the four columns, and index the listings that filter on them."""
    prefix = context.config.attributes["table_prefix"]
    instances = f"{prefix}_instances"
    op.add_column(instances, sa.Column("head_type", sa.String(256)))
    op.add_column(instances, sa.Column("head_failed", sa.Boolean))
    op.add_column(instances, sa.Column("copied_from", sa.String(128)))
    op.add_column(instances, sa.Column("copy_kind", sa.String(16)))
    op.create_index(f"{instances}_head_type", instances, ["head_type", "last_recorded_at", "instance_id"])
    for name, columns, condition in (
        ("failed", ["last_recorded_at", "instance_id"], "head_failed"),
        ("copied_from", ["copied_from", "instance_id"], "copied_from IS NOT NULL"),
    ):
        where = sa.text(condition)
        op.create_index(f"{instances}_{name}", instances, columns, postgresql_where=where, sqlite_where=where)
