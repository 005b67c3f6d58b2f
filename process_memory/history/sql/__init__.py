"""History on SQL: SQLite (the embedded default) or PostgreSQL."""

from process_memory.history.sql.store import SQLHistoryStore
from process_memory.history.sql.tables import Tables, build_tables

__all__ = ["SQLHistoryStore", "Tables", "build_tables"]
