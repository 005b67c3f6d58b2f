"""Alembic's environment: run the revisions on the connection and for the table prefix ``upgrade`` hands over."""

from __future__ import annotations

from alembic import context

from process_memory.history.sql.migrations import version_table

attributes = context.config.attributes
context.configure(connection=attributes["connection"], version_table=version_table(attributes["table_prefix"]))
with context.begin_transaction():
    context.run_migrations()
