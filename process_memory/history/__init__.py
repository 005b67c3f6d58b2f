"""Long-term memory: the history service and the storage backends behind it."""

from __future__ import annotations

from process_memory.config import ConfigError, Settings
from process_memory.history.store import HistoryStore


def create_history_store(settings: Settings) -> HistoryStore:
    """Return the backend the configuration names (no connection is opened yet)."""
    if settings.docdb_uri:
        from process_memory.history.mongo import MongoHistoryStore

        return MongoHistoryStore(
            settings.docdb_uri,
            settings.docdb_database_name,
            settings.docdb_collection,
            timeout_ms=settings.docdb_timeout_ms,
        )
    raise ConfigError("DOCDB_URI or DOCDB_HOST must be set: the history needs a MongoDB-compatible database")
