"""The blobs table on SQL: entries' data over the inline limit, compressed, one row per entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from process_memory.db import ProcessLocalEngine
from process_memory.history.sql.entries import unavailable_on_database_error
from process_memory.history.sql.tables import Tables
from process_memory.history.store import BlobStore


class SQLBlobs(BlobStore):
    """Offloaded data in the blobs table."""

    def __init__(self, engine: ProcessLocalEngine, tables: Tables) -> None:
        self._engine = engine
        self.tables = tables

    @unavailable_on_database_error
    def put_blob(self, instance_id: str, entry_id: str, compressed: bytes) -> str:
        """Store compressed data in the blobs table and return its id."""
        blob_id = str(uuid.uuid4())
        row = {
            "id": blob_id,
            "instance_id": instance_id,
            "entry_id": entry_id,
            "created_at": datetime.now(UTC).replace(tzinfo=None),
            "content": compressed,
        }
        # Values passed with the call, not built into the statement: SQLAlchemy's statement cache keeps
        # the first statement it compiles, and with it the first blob, for as long as the process runs.
        with self._engine.begin() as conn:
            conn.execute(self.tables.blobs.insert(), row)
        return blob_id

    @unavailable_on_database_error
    def get_blob(self, ref: str) -> bytes:
        """Return a blob's content."""
        blobs = self.tables.blobs
        with self._engine.connect() as conn:
            content = conn.execute(sa.select(blobs.c.content).where(blobs.c.id == ref)).scalar()
        if content is None:
            raise KeyError(ref)
        return bytes(content)

    @unavailable_on_database_error
    def delete_blob(self, ref: str) -> None:
        """Delete a blob."""
        with self._engine.begin() as conn:
            conn.execute(self.tables.blobs.delete().where(self.tables.blobs.c.id == ref))

    @unavailable_on_database_error
    def delete_orphan_blobs(self, older_than: datetime) -> int:
        """Delete blobs older than ``older_than`` that no entry refers to."""
        blobs, entries = self.tables.blobs, self.tables.entries
        cutoff = older_than.astimezone(UTC).replace(tzinfo=None)
        referenced = sa.select(entries.c.data_blob).where(entries.c.data_blob == blobs.c.id).exists()
        with self._engine.begin() as conn:
            # Read inside the transaction: psycopg reports -1 once the connection is released.
            return conn.execute(blobs.delete().where(blobs.c.created_at < cutoff, ~referenced)).rowcount
