"""History on MongoDB, AWS DocumentDB or FerretDB."""

from process_memory.history.mongo.store import MongoHistoryStore

__all__ = ["MongoHistoryStore"]
