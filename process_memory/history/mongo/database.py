"""One MongoDB client per process, and the collections of one history store on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.cursor import Cursor
from pymongo.database import Database

from process_memory.db import ProcessLocal
from process_memory.entry import StoredEntry
from process_memory.history.mongo.documents import entry_from_document, entry_key

#: The summary's record of the first seq stored under its key (documents.entry_key).
KEYED_FROM = "keyed_from"
#: The summary's copy of the stored tree hashes of the records holding its tree's frontier at its head, by seq:
#: what the next append's record needs, read with the summary instead of from the entries.
FRONTIER = "tree_frontier"


def bounded(cursor: Cursor[Any], limit: int) -> Cursor[Any]:
    """The cursor limited to ``limit`` documents, all asked for in its first batch. The engine then closes it with
    that batch: no getMore, and no cursor left open on the server (which an engine may hold a connection for) unless
    16 MiB of documents end the batch first. Without a batch size, a limit past 101 leaves one open."""
    return cursor.limit(limit).batch_size(limit)


class MongoCollections:
    """The store's database and its collections, all named after the entries' collection."""

    def __init__(
        self,
        uri: str,
        database_name: str,
        collection: str,
        timeout_ms: int,
        client_factory: Callable[..., MongoClient[Any]],
        create_indexes: Callable[[Database[Any]], None],
    ) -> None:
        self.uri = uri
        self.database_name = database_name
        self.collection_name = collection
        self._timeout_ms = timeout_ms
        self._client_factory = client_factory
        # Opened on first use: a client made before gunicorn forks is never used by a child.
        self.client = ProcessLocal(self._create_client, lambda client: create_indexes(client[database_name]))

    def _create_client(self) -> MongoClient[Any]:
        return self._client_factory(
            self.uri,
            serverSelectionTimeoutMS=self._timeout_ms,
            connectTimeoutMS=self._timeout_ms,
            socketTimeoutMS=max(self._timeout_ms * 6, 30_000),
            retryWrites=False,
            w="majority",
            # Whatever the URI asks (DocumentDB's examples ask secondaryPreferred): a secondary may lag, so a page
            # read there could stop short of an entry its own client just appended, and an append could link to
            # a stale head. A keyword overrides the URI's option.
            readPreference="primary",
            appname="process-memory",
            connect=False,
        )

    def database(self) -> Database[Any]:
        """This process's handle on the store's database."""
        return self.client.get()[self.database_name]

    def entries(self) -> Collection[Any]:
        """The entries."""
        return self.database()[self.collection_name]

    def summaries(self) -> Collection[Any]:
        """One summary per instance."""
        return self.database()[f"{self.collection_name}_instances"]

    def at_seq(self, instance_id: str, seq: int) -> StoredEntry | None:
        """The entry at ``seq``: by ``_id``, else (an entry from before the keys) by ``(instance_id, seq)``."""
        doc = self.entries().find_one({"_id": entry_key(instance_id, seq)})
        if doc is None:
            summary = self.summaries().find_one({"_id": instance_id}) or {}
            # Past the head, an entry at or after keyed_from has its key: no key, no entry.
            if seq <= summary.get("head_seq", -1) or seq < summary.get(KEYED_FROM, seq + 1):
                doc = self.entries().find_one({"instance_id": instance_id, "seq": seq})
        return entry_from_document(doc) if doc else None

    def scan_head(self, instance_id: str) -> StoredEntry | None:
        """The entry with the highest seq, as the entries alone say (whatever the summary says)."""
        doc = self.entries().find_one({"instance_id": instance_id}, sort=[("seq", DESCENDING)])
        return entry_from_document(doc) if doc else None
