"""${message}"""

from __future__ import annotations

from alembic import context, op
import sqlalchemy as sa

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    prefix = context.config.attributes["table_prefix"]
    ${upgrades if upgrades else "pass"}
