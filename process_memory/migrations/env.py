"""Alembic's environment: run the revisions on the connection, and into the version table, ``upgrade`` hands over."""

from __future__ import annotations

from alembic import context

attributes = context.config.attributes
context.configure(connection=attributes["connection"], version_table=attributes["version_table"])
with context.begin_transaction():
    context.run_migrations()
