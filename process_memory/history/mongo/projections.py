"""How a MongoDB store keeps a projection without multi-document transactions: announce, insert, write, repair.

Before the entries are inserted the hook announces what is coming (a view marked dirty, for one); after the
insert succeeds it writes. An insert interrupted anywhere leaves the announcement behind, and the projection
repairs itself from the chain when it is next read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pymongo.database import Database

from process_memory.history.projections import ProjectedEntries


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
