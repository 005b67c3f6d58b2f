"""How a SQL store keeps a projection: its hook writes the projection's rows in the insert's own transaction."""

from __future__ import annotations

from abc import ABC, abstractmethod

from sqlalchemy.engine import Connection

from process_memory.history.projections import ProjectedEntries


class SQLProjectionHook(ABC):
    """A projection's writer on SQL; its tables are declared on the store's metadata, so the store creates them."""

    @abstractmethod
    def write(self, conn: Connection, projected: ProjectedEntries) -> None:
        """Write the projection's part of an insert on ``conn``, inside the insert's transaction: both or neither."""
