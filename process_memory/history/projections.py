"""Projections: views an application keeps from the log's entries, written with them.

The log knows nothing of what a projection means. A projection checks the entries posted to an instance
before any of them is stored (it may refuse them all), and says which stored entries it is built from (their
data cannot be erased). Each store has a hook of its own kind per projection, which writes the projection's
part of an insert: in the insert's transaction on SQL (``history/sql/projections.py``); announced before the
insert, written after it and repaired on read on MongoDB (``history/mongo/projections.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from process_memory.entry import NewEntry, StoredEntry


@dataclass(frozen=True)
class ProjectedEntries:
    """The entries of one insert that one projection reads, in seq order, each with what its check made of it."""

    projection: str
    instance_id: str
    entries: list[tuple[StoredEntry, Any]]

    @property
    def last_seq(self) -> int:
        """The seq of the last entry the projection reads (what MongoDB announces before inserting)."""
        return self.entries[-1][0].seq


class Projection(ABC):
    """A view kept from the log's entries by an application built on it."""

    #: The projection's name: the key of its hook in each store.
    name: str
    #: What it is, for messages ("the current memory").
    description: str

    @abstractmethod
    def check(self, instance_id: str, news: Sequence[NewEntry]) -> list[Any]:
        """Check entries posted together before any is stored; return what the projection reads from each, in
        order (None where it reads nothing). Raise an API error to refuse them all."""

    @abstractmethod
    def is_built_from(self, stored: StoredEntry) -> bool:
        """Whether the projection reads this stored entry, so that erasing its data would change it."""


def project(
    projections: Sequence[Projection], instance_id: str, chained: list[tuple[StoredEntry, dict[str, Any]]]
) -> list[ProjectedEntries]:
    """Return each projection's part of a chained batch: the entries it reads, with what it read (``chained`` pairs
    each entry with its readings by projection name). Projections that read none of them are left out."""
    parts = []
    for projection in projections:
        read = [(stored, readings[projection.name]) for stored, readings in chained if projection.name in readings]
        if read:
            parts.append(ProjectedEntries(projection.name, instance_id, read))
    return parts
