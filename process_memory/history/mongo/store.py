"""MongoHistoryStore: history on MongoDB, AWS DocumentDB or FerretDB.

One object per capability (entries.py, summaries.py, blobs.py), all on one client per process and the
collections named after the entries' (database.py); projections keep collections of their own beside them
(memory/mongo.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from process_memory.db import DEFAULT_TIMEOUT_MS, SCHEMA_ATTEMPTS
from process_memory.history.mongo.anchors import create_anchor_indexes
from process_memory.history.mongo.blobs import GridFSBlobs, MongoErasure
from process_memory.history.mongo.database import MongoCollections
from process_memory.history.mongo.documents import create_indexes
from process_memory.history.mongo.entries import MongoEntries, MongoSearch, MongoTrees, unavailable_on_network_error
from process_memory.history.mongo.projections import MongoProjectionHook
from process_memory.history.mongo.rows import MongoRows
from process_memory.history.mongo.summaries import MongoSummaries, create_summary_indexes
from process_memory.history.store import HistoryStore


class MongoHistoryStore(HistoryStore):
    """History entries in one collection, summaries in another, large data in GridFS; projections' collections
    beside them."""

    backend = "mongo"
    rows: MongoRows

    def __init__(
        self,
        uri: str,
        database_name: str,
        collection: str,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        client_factory: Callable[..., MongoClient[Any]] = MongoClient,
    ) -> None:
        self._projection_hooks: dict[str, MongoProjectionHook] = {}
        self.collections = MongoCollections(
            uri, database_name, collection, timeout_ms, client_factory, self._create_indexes
        )
        self.summaries = MongoSummaries(self.collections)
        self.entries = MongoEntries(self.collections, self.summaries, self._projection_hooks)
        self.trees = MongoTrees(self.collections)
        self.blobs = GridFSBlobs(self.collections)
        self.search_index = MongoSearch(self.collections)
        self.erasure = MongoErasure(self.collections, self.blobs)
        self.rows = MongoRows(self.collections)

    @property
    def collection_name(self) -> str:
        """The entries' collection; every other collection of the store is named after it."""
        return self.collections.collection_name

    def database(self) -> Database[Any]:
        """This process's handle on the store's database (projections' hooks and indexes use it too)."""
        return self.collections.database()

    def attach_projection(self, name: str, hook: object) -> None:
        """Keep the projection ``name`` through ``hook`` (a MongoProjectionHook): announced before every insert,
        written after it."""
        if not isinstance(hook, MongoProjectionHook):
            raise TypeError(
                f"a MongoDB store keeps projections through MongoProjectionHooks, not {type(hook).__name__}"
            )
        self._projection_hooks[name] = hook

    def _create_indexes(self, database: Database[Any]) -> None:
        # Several processes creating one new collection's indexes at once may be refused by the engine (a
        # deadlock on an engine over PostgreSQL, a write conflict): creating an index that exists is a no-op,
        # so look again, and raise only what persists. An engine that cannot be reached is not asked again:
        # each try would wait for the server-selection timeout.
        for attempt in range(1, SCHEMA_ATTEMPTS + 1):
            try:
                create_indexes(database[self.collection_name])
                create_anchor_indexes(database, self.collection_name)
                create_summary_indexes(database[f"{self.collection_name}_instances"])
                for hook in self._projection_hooks.values():
                    hook.create_indexes(database)
                return
            except OperationFailure:
                if attempt == SCHEMA_ATTEMPTS:
                    raise
                time.sleep(0.02 * attempt)

    @unavailable_on_network_error
    def ensure_schema(self) -> None:
        """Create the collections' indexes now rather than on first use."""
        self.collections.client.prepare_again()

    @unavailable_on_network_error
    def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers a ping."""
        self.database().command("ping")

    def describe(self) -> str:
        """Name the hosts, database and collection, without credentials."""
        hosts = self.collections.uri.split("@")[-1].split("/")[0]
        return f"MongoDB-compatible database {hosts}, {self.collections.database_name}.{self.collection_name}"

    def close(self) -> None:
        """Close this process's client."""
        client = self.collections.client.discard()
        if client is not None:
            client.close()
