"""Erasing an entry's data for good (history/redacting.py): the row's data becomes JSON null, its offloaded blob is
deleted, and the redaction is recorded on it, in one transaction. Every hashed column stays as it was."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError

from process_memory.db import ProcessLocalEngine, unavailable_on
from process_memory.entry import DATA_FIELD, ERASED_DATA, shown_name
from process_memory.history.sql.tables import Tables
from process_memory.history.store import Erasure

_unavailable_on_database_error = unavailable_on(OperationalError)


class SQLErasure(Erasure):
    """Erasing entries' data in the entries and blobs tables."""

    def __init__(self, engine: ProcessLocalEngine, tables: Tables) -> None:
        self._engine = engine
        self.tables = tables

    @_unavailable_on_database_error
    def erase_data(self, instance_id: str, seq: int, redacted_json: str) -> None:
        """Make the entry's data JSON null, delete its blob and record ``redacted_json``, in one transaction."""
        entries, blobs = self.tables.entries, self.tables.blobs
        at_entry = (entries.c.instance_id == instance_id, entries.c.seq == seq)
        values: dict[str, Any] = {DATA_FIELD: ERASED_DATA, "data_blob": None, "redacted_json": redacted_json}
        if "redacted" in entries.c:  # PostgreSQL's JSONB copies, for psql
            values |= {shown_name(DATA_FIELD): None, "redacted": sa.cast(redacted_json, postgresql.JSONB)}
        with self._engine.begin() as conn:
            blob = conn.execute(sa.select(entries.c.data_blob).where(*at_entry)).scalar()
            conn.execute(entries.update().where(*at_entry).values(values))
            if blob is not None:
                conn.execute(blobs.delete().where(blobs.c.id == blob))
