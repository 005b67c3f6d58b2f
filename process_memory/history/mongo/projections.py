"""How a MongoDB store keeps a projection without multi-document transactions: announce, insert, write, repair.

Before the entries are inserted the hook announces what is coming (a view marked dirty, for one); after the
insert succeeds it writes. An insert interrupted anywhere leaves the announcement behind, and the projection
repairs itself from the chain when it is next read.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

from process_memory.history.mongo.rows import MongoRows
from process_memory.history.projections import ProjectedEntries
from process_memory.history.rows import RowWriter

log = logging.getLogger(__name__)


class MongoProjectionHook(ABC):
    """A projection's writer on MongoDB."""

    @abstractmethod
    def create_indexes(self, database: Database[Any]) -> None:
        """Create the projection's collections' indexes (with the store's own, before the store is used)."""

    @abstractmethod
    def announce(self, projected: ProjectedEntries) -> Any:
        """Record, before the insert, that these entries are coming; return what ``write`` needs after it."""

    @abstractmethod
    def write(self, projected: ProjectedEntries, announced: Any) -> None:
        """Write the projection's part once the insert succeeded (a failure here is repaired on read)."""


class MongoRowsHook(MongoProjectionHook):
    """The hook of a projection written against ``RowStore`` (history/rows.py): the writer announces before the
    insert and writes after it; a write that fails is left for the projection to repair on read."""

    def __init__(
        self, rows: MongoRows, writer: RowWriter, indexes: Callable[[Database[Any]], None], description: str
    ) -> None:
        self.rows = rows
        self.writer = writer
        self._indexes = indexes
        self.description = description

    def create_indexes(self, database: Database[Any]) -> None:
        """Create the projection's indexes."""
        self._indexes(database)

    def announce(self, projected: ProjectedEntries) -> Any:
        """Let the writer mark what is coming."""
        return self.writer.announce(self.rows, projected)

    def write(self, projected: ProjectedEntries, announced: Any) -> None:
        """Let the writer write; the entries are stored whatever happens here."""
        try:
            self.writer.write(self.rows, projected, announced)
        except PyMongoError as exc:
            log.warning("%s not updated (%s); it is repaired on read", self.description, type(exc).__name__)
