"""What the history service needs from a database, as small capabilities; a backend composes one of each.

A store keeps entries exactly as the service hands them over and never decides anything about the chain:
sequence numbers, hashes and the inline/offload threshold are the service's business. Each capability is its
own interface of a few methods, implemented by its own object in each backend (``history/sql/``,
``history/mongo/``); ``HistoryStore`` is what a backend hands the service: one of each, and the database they
share.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from process_memory.entry import StoredEntry
from process_memory.history.projections import ProjectedEntries
from process_memory.history.queries import HistoryQuery, SearchQuery, SummaryListing
from process_memory.history.rows import RowStore
from process_memory.history.summaries import InstanceSummary
from process_memory.paging import SearchPosition


@dataclass(frozen=True)
class ChainHead:
    """What an append links to: the head's seq and hash (-1 and None for an empty instance), and the stored tree
    hashes of the records that hold the tree's frontier at that size, as far as the store keeps them with the
    instance (any missing one is read from the trees)."""

    seq: int
    hash: str | None
    frontier: Mapping[int, bytes] = field(default_factory=dict)


class EntryLog(ABC):
    """The entries of each instance, in seq order: the chain."""

    def chain_head(self, instance_id: str, exact: bool = False) -> ChainHead:
        """The head an append links to. Not ``exact``: a store may answer from what it keeps with the instance
        even if an append outran it (the insert then loses its seq, and the retry asks for the exact head)."""
        head = self.head(instance_id)
        return ChainHead(head.seq, head.hash) if head else ChainHead(-1, None)

    @abstractmethod
    def head(self, instance_id: str) -> StoredEntry | None:
        """Return the entry with the highest seq of the instance, or None."""

    @abstractmethod
    def get_by_seq(self, instance_id: str, seq: int) -> StoredEntry | None:
        """Return the entry at ``seq``, or None."""

    @abstractmethod
    def get_by_ids(self, instance_id: str, entry_ids: list[str]) -> dict[str, StoredEntry]:
        """Return the instance's entries with these ids, by id, in one round trip."""

    @abstractmethod
    def insert_many(
        self,
        entries: list[StoredEntry],
        projected: Sequence[ProjectedEntries] = (),
        frontier: Mapping[int, bytes] | None = None,
    ) -> None:
        """Store consecutive entries of one instance, in order, in one round trip where the database allows.

        Raise DuplicateEntry (with how many leading entries were stored) when a
        seq or id is taken. Once this returns every entry is durable. Keeping
        the instance summary and the entries' tree rows up to date is part of
        it, and so is handing each projection's part to its hook; a summary or
        projection left stale by a crash must be repaired when read, never shown.
        ``frontier`` (the records holding the tree's frontier after the last
        entry, as ChainHead's) is for a store that keeps it with the instance.
        """

    @abstractmethod
    def find(self, instance_id: str, query: HistoryQuery) -> list[StoredEntry]:
        """Return up to ``query.limit`` entries matching ``query``, in its direction."""

    @abstractmethod
    def types_of(self, instance_id: str, limit: int) -> list[str]:
        """Return up to ``limit`` of the distinct types of the instance's entries, in order."""

    @abstractmethod
    def iter_chain(self, instance_id: str) -> Iterator[StoredEntry]:
        """Yield every entry of the instance by ascending seq, holding a bounded batch in memory."""

    def appending(self, instance_id: str) -> contextlib.AbstractContextManager[None]:
        """Hold off this service's other writers of the instance while one reads the head and inserts after it.

        Writers then queue instead of racing for the next seq and retrying.
        The unique (instance_id, seq) and (instance_id, id) still decide every
        race this hold does not cover (another host, a restarted process). The
        default holds nothing.
        """
        return contextlib.nullcontext()

    def listen_for_appends(self, wake: Callable[[], None]) -> bool:
        """Call ``wake`` after every append any process makes, from now on; False when the database cannot tell.

        Live-tail readers use it to wake across hosts (hosts wake their own
        processes themselves, history/wakeups.py). Safe to call again.
        """
        return False


class BlobStore(ABC):
    """Entries' data over the inline limit, compressed, out of line."""

    @abstractmethod
    def put_blob(self, instance_id: str, entry_id: str, compressed: bytes) -> str:
        """Store offloaded data and return its reference."""

    @abstractmethod
    def get_blob(self, ref: str) -> bytes:
        """Return offloaded data by reference; raise KeyError when it is gone."""

    @abstractmethod
    def delete_blob(self, ref: str) -> None:
        """Delete offloaded data that no entry refers to."""

    @abstractmethod
    def delete_orphan_blobs(self, older_than: datetime) -> int:
        """Delete blobs older than ``older_than`` that no entry refers to; return how many."""


class TreeStore(ABC):
    """The Merkle tree hashes each entry's insert stored (history/trees.py)."""

    @abstractmethod
    def tree_hashes(self, instance_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """Return the ``tree`` of the instance's entries at these seqs, by seq; leave out those without one."""

    def tree_hashes_many(self, wanted: Mapping[str, Sequence[int]]) -> dict[str, dict[int, bytes]]:
        """``tree_hashes`` of several instances at once, by instance (the anchoring round reads every grown
        instance's frontier); the default asks each instance in turn."""
        return {instance_id: self.tree_hashes(instance_id, seqs) for instance_id, seqs in wanted.items()}

    @abstractmethod
    def save_trees(self, instance_id: str, trees: dict[int, bytes]) -> None:
        """Store the ``tree`` of existing entries, by seq, replacing what they had (``history reindex``)."""


class SummaryStore(ABC):
    """One summary per instance, moved on by every insert; one behind its entries is repaired, never shown."""

    @abstractmethod
    def summary(self, instance_id: str) -> InstanceSummary | None:
        """Return the instance's summary, repaired first when stale; None when it has no entry."""

    @abstractmethod
    def summaries_in_order(self, listing: SummaryListing) -> list[InstanceSummary]:
        """Return up to ``listing.limit`` summaries in the listing's order (queries.ORDER_KEYS: ascending by id,
        descending by last activity or size), past its position (``backward``: before it, in the reverse order), of
        ids that start with its prefix and with its filters on the last entry's type and failure."""

    @abstractmethod
    def head_types(self, prefix: str, limit: int) -> list[str]:
        """Return up to ``limit`` of the distinct types of the instances' last entries, of ids starting with
        ``prefix``, in order."""

    @abstractmethod
    def copies_of(self, instance_id: str, prefix: str, limit: int) -> list[InstanceSummary]:
        """Return up to ``limit`` summaries, by id, of the instances whose first entry says it was copied from
        ``instance_id`` (of ids starting with ``prefix``)."""

    def list_summaries(self, after: str | None, limit: int, prefix: str = "") -> list[InstanceSummary]:
        """Return up to ``limit`` summaries ordered by instance id, after ``after``, of ids starting with ``prefix``."""
        return self.summaries_in_order(SummaryListing("id", None if after is None else (after,), limit, prefix))

    @abstractmethod
    def touched_since(self, since: str, after: tuple[str, str] | None, limit: int) -> list[InstanceSummary]:
        """Return up to ``limit`` summaries whose last entry was recorded at ``since`` or later, ordered by
        (last_recorded_at, instance_id), after the position ``after``: the instances an anchoring round looks at.
        Served from an index."""

    @abstractmethod
    def recount(self, instance_id: str) -> InstanceSummary | None:
        """Recompute the instance's summary from its entries alone, whatever the stored summary says."""

    @abstractmethod
    def save_if_behind(self, summary: InstanceSummary) -> None:
        """Store ``summary`` in place of the instance's summary when that one has a lower head seq."""

    def repair(self, instance_id: str) -> InstanceSummary | None:
        """Recompute a stale summary from the entries and store it, unless a newer one got there first."""
        summary = self.recount(instance_id)
        if summary is not None:
            self.save_if_behind(summary)
        return summary


class SearchIndex(ABC):
    """Entries of every instance by recorded time."""

    @abstractmethod
    def search(self, query: SearchQuery, position: SearchPosition | None) -> list[StoredEntry]:
        """Return up to ``query.limit`` entries of any instance after ``position``, by (recorded_at, instance_id, seq).

        Served from an index; ``query.after`` is the service's business.
        """


class Erasure(ABC):
    """Erasing an entry's data for good (history/redacting.py)."""

    @abstractmethod
    def erase_data(self, instance_id: str, seq: int, redacted_json: str) -> None:
        """Make the entry's data JSON null, delete its offloaded blob, and record ``redacted_json``. Every hashed
        field stays as it is. Erasing again changes nothing more."""


class HistoryStore(ABC):
    """One backend's capabilities over one database, and the database's own upkeep."""

    #: The backend's name in the registries (registry.py): the memory's tables and hook are the ones of this name.
    backend: ClassVar[str]
    entries: EntryLog
    blobs: BlobStore
    trees: TreeStore
    summaries: SummaryStore
    search_index: SearchIndex
    erasure: Erasure
    #: The projections' tables (history/rows.py): what a projection written once for every backend keeps.
    rows: RowStore

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create collections/tables and indexes when missing; safe to call again."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""

    @abstractmethod
    def attach_projection(self, name: str, hook: object) -> None:
        """Keep the projection ``name`` with every insert through ``hook``, of this backend's hook kind
        (history/sql/projections.py, history/mongo/projections.py); TypeError for another kind."""

    @abstractmethod
    def describe(self) -> str:
        """Name the database for the start-up line, without credentials."""

    def close(self) -> None:
        """Release connections; the default has nothing to release."""
