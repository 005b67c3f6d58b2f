"""Where the current memory and the lineage indexes are kept: two small interfaces, one backend beside each log.

The memory is a projection of the log (history/projections.py): each backend's index is the projection's hook
in its history store, writing a fold with the entries it folds (in the same transaction on SQL; announced,
written and repaired on read on MongoDB). The rules of the view live in ``memory/view.py``; an index only keeps
what a fold wrote (``ViewStore``) and answers the indexed questions below (``LineageIndex``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from process_memory.memory.lineage_queries import EventQuery, ReaderQuery
from process_memory.memory.view import CurrentMemory, ViewWrite


class ViewStore(ABC):
    """The current memory of each instance, as the folds of its chain wrote it."""

    @abstractmethod
    def load_view(self, instance_id: str) -> CurrentMemory | None:
        """Return the instance's current memory as stored (possibly stale, see ``CurrentMemory.stale``), or None."""

    @abstractmethod
    def save_view(self, write: ViewWrite, expected_applied: int) -> bool:
        """Store a fold's write if the stored view is still at ``expected_applied``; return whether it was stored."""

    @abstractmethod
    def replace_view(self, write: ViewWrite) -> bool:
        """Replace the instance's view, reads and items with a fold of its whole chain (reindex).

        Return False, changing nothing, when the fold is already behind the chain
        and nothing would repair it (SQL); MongoDB leaves such a view dirty instead.
        """

    @abstractmethod
    def stale_views(self, limit: int) -> list[str]:
        """Return instances whose view an interrupted append left behind its entries (never any on SQL)."""

    @abstractmethod
    def load_views(self, instance_ids: list[str]) -> list[CurrentMemory]:
        """Return the views of these instances that exist, by instance id."""


class LineageIndex(ABC):
    """The indexed questions the reprocessing queries ask across instances."""

    @abstractmethod
    def readers(self, query: ReaderQuery) -> list[str]:
        """Return up to ``query.limit`` instance ids after ``query.after``, ascending, that match ``query``."""

    @abstractmethod
    def events(self, query: EventQuery) -> list[CurrentMemory]:
        """Return up to ``query.limit`` views whose event matches, by (reference date, instance id)."""

    @abstractmethod
    def latest_reprocesses(self, originals: list[str], within: str = "") -> dict[str, str]:
        """Return, for each of ``originals`` that was reprocessed, the reprocess with the newest event time
        (of the reprocesses whose id starts with ``within``)."""

    @abstractmethod
    def items(self, instance_ids: list[str], kind: str, types: list[str] | None = None) -> list[str]:
        """Return the JSON of these instances' ``kind`` items (of these types), by (instance, seq, position)."""


class MemoryIndex(ViewStore, LineageIndex, ABC):
    """Both: what one backend keeps beside its history store."""
