"""The HistoryStore interface: what the history service needs from a database.

A store keeps entries exactly as the service hands them over and never decides
anything about the chain: sequence numbers, hashes and the inline/offload
threshold are the service's business. Each backend lives in its own module.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from process_memory.history.entry import StoredEntry
from process_memory.history.projections import ProjectedEntries
from process_memory.paging import SearchPosition


@dataclass(frozen=True)
class InstanceSummary:
    """What is known about one instance without reading its entries."""

    instance_id: str
    count: int
    first_recorded_at: str
    last_recorded_at: str
    head_seq: int
    head_hash: str

    def progress(self) -> dict[str, Any]:
        """Return every field but the instance id: what an append moves on."""
        return {name: value for name, value in dataclasses.asdict(self).items() if name != "instance_id"}


@dataclass(frozen=True)
class EntryFilter:
    """What a history page and a search both filter on: type and recorded time; and how many to return."""

    type: str | None = None
    #: recorded_at >= since, as stored text.
    since: str | None = None
    #: recorded_at < until, as stored text.
    until: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class HistoryQuery(EntryFilter):
    """A validated page request over one instance's history."""

    direction: Literal["forward", "backward"] = "forward"
    after: int | None = None
    before: int | None = None
    #: Live tail: seconds to wait for an entry when the page would be empty (stores ignore it).
    wait: float = 0


@dataclass(frozen=True)
class SearchQuery(EntryFilter):
    """A validated search across instances; ``after`` is the cursor of the previous page, as the client sent it."""

    after: str | None = None
    #: Only entries of instances whose id starts with this (the prefix the request's key is limited to).
    within: str = ""


@dataclass(frozen=True)
class InstanceQuery:
    """A validated page request over the instances, by id."""

    after: str | None = None
    limit: int = 100
    #: Only instances whose id starts with this.
    prefix: str = ""
    #: And with this: the prefix the request's key is limited to.
    within: str = ""


class HistoryStore(ABC):
    """Durable storage of entries, offloaded blobs and instance summaries, and the projections' hooks."""

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create collections/tables and indexes when missing; safe to call again."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""

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
    def tree_hashes(self, instance_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """Return the ``tree`` of the instance's entries at these seqs, by seq; leave out those without one."""

    @abstractmethod
    def save_trees(self, instance_id: str, trees: dict[int, bytes]) -> None:
        """Store the ``tree`` of existing entries, by seq, replacing what they had (``history reindex``)."""

    @abstractmethod
    def erase_data(self, instance_id: str, seq: int, redacted_json: str) -> None:
        """Erase an entry's data for good: make it JSON null, delete its offloaded blob, and record ``redacted_json``
        (history/redacting.py). Every hashed field stays as it is. Erasing again changes nothing more."""

    @abstractmethod
    def insert_many(self, entries: list[StoredEntry], projected: Sequence[ProjectedEntries] = ()) -> None:
        """Store consecutive entries of one instance, in order, in one round trip where the database allows.

        Raise DuplicateEntry (with how many leading entries were stored) when a
        seq or id is taken. Once this returns every entry is durable. Keeping
        the instance summary up to date is part of it, and so is handing each
        projection's part to its hook; a summary or projection left stale by a
        crash must be repaired when read, never shown.
        """

    @abstractmethod
    def attach_projection(self, name: str, hook: object) -> None:
        """Keep the projection ``name`` with every insert through ``hook``, of this backend's hook kind
        (history/sql/projections.py, history/mongo/projections.py); TypeError for another kind."""

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

    @abstractmethod
    def search(self, query: SearchQuery, position: SearchPosition | None) -> list[StoredEntry]:
        """Return up to ``query.limit`` entries of any instance after ``position``, by (recorded_at, instance_id, seq).

        Served from an index; ``query.after`` is the service's business.
        """

    @abstractmethod
    def find(self, instance_id: str, query: HistoryQuery) -> list[StoredEntry]:
        """Return up to ``query.limit`` entries matching ``query``, in its direction."""

    @abstractmethod
    def iter_chain(self, instance_id: str) -> Iterator[StoredEntry]:
        """Yield every entry of the instance by ascending seq, holding a bounded batch in memory."""

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

    @abstractmethod
    def summary(self, instance_id: str) -> InstanceSummary | None:
        """Return the instance's summary, repaired first when stale; None when it has no entry."""

    @abstractmethod
    def list_summaries(self, after: str | None, limit: int, prefix: str = "") -> list[InstanceSummary]:
        """Return up to ``limit`` summaries ordered by instance id, after ``after``, of ids starting with ``prefix``."""

    def summary_from_entries(self, instance_id: str) -> InstanceSummary | None:
        """Recompute an instance's summary from its entries (two indexed reads)."""
        head, first = self._head_for_repair(instance_id), self.get_by_seq(instance_id, 0)
        if head is None or first is None:
            return None
        return InstanceSummary(
            instance_id=instance_id,
            count=head.seq + 1,
            first_recorded_at=first.recorded_at,
            last_recorded_at=head.recorded_at,
            head_seq=head.seq,
            head_hash=head.hash,
        )

    def _head_for_repair(self, instance_id: str) -> StoredEntry | None:
        """The head as the entries alone say, whatever the summary says (a store whose head() trusts it overrides)."""
        return self.head(instance_id)

    def repair_summary(self, instance_id: str) -> InstanceSummary | None:
        """Recompute a stale summary from the entries and store it, unless a newer one got there first."""
        summary = self.summary_from_entries(instance_id)
        if summary is not None:
            self._save_summary_if_behind(summary)
        return summary

    @abstractmethod
    def _save_summary_if_behind(self, summary: InstanceSummary) -> None:
        """Store ``summary`` in place of the instance's summary when that one has a lower head seq."""

    @abstractmethod
    def describe(self) -> str:
        """Name the database for the start-up line, without credentials."""

    def close(self) -> None:
        """Release connections; the default has nothing to release."""
