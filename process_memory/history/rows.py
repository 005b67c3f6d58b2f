"""Rows a projection keeps beside the log: one small interface, implemented once per backend for every projection.

A projection (history/projections.py) is written once against ``RowStore``: it names its tables by ``RowTable``,
asks for rows with the conditions below, and writes them with ``put``, ``add`` and ``delete``. Each history store
offers one (``history/sql/rows.py``, ``history/mongo/rows.py``). A SQL store's is transactional: a projection's
write runs in the insert's transaction and sees nothing half done. A MongoDB store's is not: what a projection
writes after an insert may be missing when the insert was interrupted, and the projection marks what it is about
to write (``raise_mark``) so that a read can see it and repair it.

The tables themselves, their columns and indexes, are each backend's: SQLAlchemy tables with Alembic revisions on
SQL, indexes on MongoDB, declared beside the projection.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from process_memory.history.projections import ProjectedEntries

#: A row as a projection reads and writes it: column → value.
Row = dict[str, Any]


@dataclass(frozen=True)
class RowTable:
    """A projection's table: its name after the store's prefix, and the columns that name one row."""

    name: str
    key: tuple[str, ...]


@dataclass(frozen=True)
class Compare:
    """``column <op> value``."""

    column: str
    op: Literal["==", "<", "<=", ">", ">="]
    value: Any


@dataclass(frozen=True)
class In:
    """``column`` is one of ``values``."""

    column: str
    values: Sequence[Any]


@dataclass(frozen=True)
class StartsWith:
    """``column`` (text) starts with ``prefix``."""

    column: str
    prefix: str


@dataclass(frozen=True)
class After:
    """``columns`` taken together come after ``values``, in the order of the columns (a page's position)."""

    columns: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one of the alternatives holds (each a list of conditions, all of which hold)."""

    alternatives: Sequence[Sequence[Condition]]


Condition = Compare | In | StartsWith | After | AnyOf
#: A column to order by, and whether descending.
Order = tuple[str, bool]


def key_of(table: RowTable, row: Row) -> Row:
    """The key columns of a row."""
    return {column: row[column] for column in table.key}


class RowStore(ABC):
    """The tables of a store's projections."""

    #: Whether a ``transaction`` is one: all its writes or none, and nothing between its reads and its writes.
    transactional: ClassVar[bool]

    @abstractmethod
    def find(
        self,
        table: RowTable,
        where: Sequence[Condition],
        order: Sequence[Order] = (),
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        distinct: bool = False,
    ) -> list[Row]:
        """Return the rows (only ``columns`` of them, if given; each once, if ``distinct``) for which every
        condition holds, in ``order``."""

    @abstractmethod
    def put(self, table: RowTable, row: Row, only_if: Sequence[Condition] = (), insert: bool = True) -> bool:
        """Write ``row``'s columns (some besides its key) into the row of its key, if the row there meets
        ``only_if``; insert it when there is none and ``insert``. Return whether it was written."""

    @abstractmethod
    def add(self, table: RowTable, rows: list[Row], replace: bool = False) -> None:
        """Insert rows; a row whose key is taken is the same row, written before, and is left as it is (or, when
        ``replace``, is replaced by the new one: their keys are then distinct). Every row names the same columns."""

    @abstractmethod
    def delete(self, table: RowTable, where: Sequence[Condition]) -> None:
        """Delete the rows for which every condition holds."""

    @abstractmethod
    def raise_mark(self, table: RowTable, row: Row, column: str, value: int, mark: Row) -> Row | None:
        """At once: raise ``column`` of ``row``'s row to at least ``value`` and set ``mark``'s columns on it
        (inserting ``row`` when missing); return the row as it was, or None."""

    @abstractmethod
    def transaction(self, durable: bool = True) -> AbstractContextManager[RowStore]:
        """The rows in one transaction (on a store without transactions, these rows as they are). Not ``durable``:
        its commit may return before it is on disk, so a crash of the database may lose it (for writes that the
        next round writes again; PostgreSQL then spares its commit a flush, where the appends' commits wait)."""

    def wait_until_durable(self) -> None:
        """Return once every transaction these rows committed is on disk (at once where each commit already is: a
        transaction that is not ``durable`` is so only on PostgreSQL)."""

    @abstractmethod
    def head_seq(self, instance_id: str) -> int:
        """The instance's highest seq in the log as these rows see it; -1 when it has no entry."""


class RowWriter(ABC):
    """A projection's writer, written once against ``RowStore``; each store's hook (``history/sql/rows.py``,
    ``history/mongo/rows.py``) calls it around an insert."""

    @abstractmethod
    def announce(self, rows: RowStore, projected: ProjectedEntries) -> Any:
        """Before the entries are inserted (in the insert's transaction, where there is one): return what ``write``
        needs; on a store without transactions, mark what is coming, for a read to repair."""

    @abstractmethod
    def write(self, rows: RowStore, projected: ProjectedEntries, announced: Any) -> None:
        """Write the projection's part of the insert, once its entries are stored."""
