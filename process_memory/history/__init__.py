"""Long-term memory: the history service and the storage backends behind it."""

from __future__ import annotations

from process_memory.config import ConfigError, Settings
from process_memory.history.store import HistoryStore


def create_history_store(settings: Settings) -> HistoryStore:
    """Return the backend the configuration names (no connection is opened yet).

    DOCDB_URI/DOCDB_HOST → MongoDB; else PROCESS_MEMORY_DATABASE_URL or the
    embedded SQLite file → SQL.
    """
    if settings.docdb_uri:
        from process_memory.history.mongo import MongoHistoryStore

        return MongoHistoryStore(
            settings.docdb_uri,
            settings.docdb_database_name,
            settings.docdb_collection,
            timeout_ms=settings.database_timeout_ms,
        )
    if settings.database_url:
        from process_memory.history.sql import SQLHistoryStore

        return SQLHistoryStore(settings.database_url, timeout_ms=settings.database_timeout_ms)
    raise ConfigError("no history database: set DOCDB_URI, DOCDB_HOST or PROCESS_MEMORY_DATABASE_URL")
