"""Reading: single entries, pages of one history (with the live tail), search across instances, summaries.

Everything is returned as stored (``StoredEntry``, ``InstanceSummary``): the API renders it, once
(``api/rendering.py``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from process_memory.entry import StoredEntry, copy_origins, is_copy_of
from process_memory.exceptions import NotFound, TooManyWaiting
from process_memory.formats import check_instance_id, narrow_prefix
from process_memory.history.context import HistoryContext
from process_memory.history.queries import ORDER_KEYS, HistoryQuery, InstanceQuery, SearchQuery, SummaryListing
from process_memory.history.summaries import InstanceSummary
from process_memory.paging import (
    Page,
    SearchPosition,
    decode_instance_cursor,
    decode_search_cursor,
    encode_instance_cursor,
    encode_search_cursor,
    fetch_page,
)

#: How often a live-tail reader looks for entries appended by processes that cannot wake it (other hosts).


class Reader:
    """Read entries, pages and summaries."""

    def __init__(self, context: HistoryContext) -> None:
        self.context = context
        self.store = context.store

    def data_of(self, stored: StoredEntry) -> Any:
        """Return an entry's data, parsed, wherever it is kept."""
        return self.context.data_of(stored)

    def get_entry(self, instance_id: str, seq: int) -> StoredEntry:
        """Return the entry at ``seq``."""
        stored = self.store.entries.get_by_seq(check_instance_id(instance_id), seq)
        if stored is None:
            raise NotFound("no entry at this seq", {"instance_id": instance_id, "seq": seq})
        return stored

    def copy_relations(
        self, summary: InstanceSummary, within: str, limit: int = 20
    ) -> tuple[tuple[str, str] | None, list[tuple[str, str]]]:
        """What the instance was copied from, and the instances copied from it, each as (kind, instance), of ids
        that start with ``within``: only where the copy's first entry holds what the original's entry it names held
        (entry.is_copy_of), since a copy's provenance is metadata a client could have written."""
        source = None
        if summary.copied_from and summary.copied_from.startswith(within):
            first = self.store.entries.get_by_seq(summary.instance_id, 0)
            kind = self._copy_kind(first, summary.copied_from) if first is not None else None
            source = (kind, summary.copied_from) if kind else None
        return source, self._copies(summary.instance_id, 0, within, limit)

    def entry_copies(self, stored: StoredEntry, within: str, limit: int = 20) -> list[tuple[str, str]]:
        """The instances that hold a copy of this entry (at its seq), as (kind, instance), checked as above."""
        return self._copies(stored.instance_id, stored.seq, within, limit)

    def _copies(self, instance_id: str, seq: int, within: str, limit: int) -> list[tuple[str, str]]:
        found = []
        for copy in self.store.summaries.copies_of(instance_id, within, limit):
            entry = self.store.entries.get_by_seq(copy.instance_id, seq) if copy.count > seq else None
            kind = self._copy_kind(entry, instance_id, seq) if entry is not None else None
            if kind:
                found.append((kind, copy.instance_id))
        return found

    def _copy_kind(self, copy: StoredEntry, source: str, seq: int | None = None) -> str | None:
        """How ``copy`` was copied from ``source`` (at ``seq``, when given), if it holds what the entry of
        ``source`` its provenance names held; None otherwise."""
        for kind, instance_id, named in copy_origins(json.loads(copy.metadata_json)):
            if instance_id == source and seq in (None, named):
                return kind if is_copy_of(copy, self.store.entries.get_by_seq(source, named)) else None
        return None

    def types_of(self, instance_id: str, limit: int) -> list[str]:
        """The types the instance's entries have, in order (at most ``limit``)."""
        return self.store.entries.types_of(check_instance_id(instance_id), limit)

    def previous_of_type(self, stored: StoredEntry) -> StoredEntry | None:
        """The entry of the same type just before ``stored`` in its instance, or None."""
        query = HistoryQuery(type=stored.type, direction="backward", before=stored.seq, limit=1)
        found = self.store.entries.find(stored.instance_id, query)
        return found[0] if found else None

    def head(self, instance_id: str) -> StoredEntry:
        """Return the newest entry of the instance."""
        stored = self.store.entries.head(check_instance_id(instance_id))
        if stored is None:
            raise NotFound("the instance has no entry", {"instance_id": instance_id})
        return stored

    def first(self, instance_id: str) -> StoredEntry:
        """Return the oldest entry of the instance (seq 0: seqs are gapless)."""
        try:
            return self.get_entry(instance_id, 0)
        except NotFound:
            raise NotFound("the instance has no entry", {"instance_id": instance_id}) from None

    def read_history(
        self, instance_id: str, query: HistoryQuery, still_wanted: Callable[[], bool] = lambda: True
    ) -> Page[StoredEntry]:
        """Return one page of entries; its cursor is the seq the next page starts after (or before).

        With ``query.wait`` (seconds), an empty page is not answered until an
        entry arrives or the wait ends: appends on this host wake the reader at
        once (wakeups.py), and so do appends elsewhere when the database tells
        (PostgreSQL's NOTIFY); otherwise they are seen at the reader's next look (the
        notifier's ``poll_seconds``). The wait
        also ends, with the empty page, as soon as ``still_wanted`` says the
        client has gone or the process is stopping; beyond ``max_waiting``
        readers at once it is refused (TooManyWaiting).
        """
        check_instance_id(instance_id)
        deadline = time.monotonic() + query.wait
        page = self._history_page(instance_id, query)
        if page.items or query.wait <= 0:
            return page
        notifier = self.context.notifier
        if notifier.stopping:
            raise TooManyWaiting("this server is stopping; retry shortly")
        if notifier.waiting >= notifier.max_waiting:
            raise TooManyWaiting(f"this server holds {notifier.max_waiting} live-tail readers already; retry shortly")
        self.store.entries.listen_for_appends(notifier.wake_readers)
        notifier.subscribe()
        notifier.count_waiting(+1)
        try:
            while not page.items and time.monotonic() < deadline and still_wanted() and not notifier.stopping:
                notifier.wait(min(deadline - time.monotonic(), notifier.poll_seconds))
                page = self._history_page(instance_id, query)
        finally:
            notifier.count_waiting(-1)
        return page

    def _history_page(self, instance_id: str, query: HistoryQuery) -> Page[StoredEntry]:
        return fetch_page(
            lambda n: self.store.entries.find(instance_id, dataclasses.replace(query, limit=n)),
            query.limit,
            lambda entry: entry.seq,
        )

    def search(self, query: SearchQuery) -> Page[StoredEntry]:
        """Return entries of every instance by time (and type); the cursor is opaque to clients."""
        position = decode_search_cursor(query.after) if query.after else None
        return fetch_page(
            lambda n: self.store.search_index.search(dataclasses.replace(query, limit=n), position),
            query.limit,
            lambda entry: encode_search_cursor(SearchPosition(entry.recorded_at, entry.instance_id, entry.seq)),
        )

    def get_instance(self, instance_id: str) -> InstanceSummary:
        """Return the instance's summary."""
        return self.context.summary(instance_id)

    def list_instances(self, query: InstanceQuery) -> Page[InstanceSummary]:
        """Return one page of instance summaries in the query's order, filtered; read onwards from ``after``, or
        back from ``before`` (the page then in the same order, and its cursor one to go on back from). The cursor
        is the last shown's key in that order (paging.encode_instance_cursor)."""
        prefix = narrow_prefix(query.prefix, query.within)
        if prefix is None:
            return Page([], None)
        backward = query.before is not None
        cursor, name = (query.before, "before") if backward else (query.after, "after")
        position = decode_instance_cursor(query.order, cursor, name)
        page = fetch_page(
            lambda n: self.store.summaries.summaries_in_order(
                SummaryListing(query.order, position, n, prefix, backward, query.head_type, query.failed)
            ),
            query.limit,
            lambda summary: instance_cursor(query.order, summary),
        )
        return Page(page.items[::-1], page.next) if backward else page

    def head_types(self, prefix: str, within: str, limit: int) -> list[str]:
        """The types the instances' last entries have (of ids that start with ``prefix`` and ``within``)."""
        narrowed = narrow_prefix(prefix, within)
        return [] if narrowed is None else self.store.summaries.head_types(narrowed, limit)


def instance_cursor(order: str, summary: InstanceSummary) -> str:
    """The cursor of an instance's place in a listing in ``order``: after it onwards, or before it back."""
    return encode_instance_cursor(tuple(getattr(summary, field) for field in ORDER_KEYS[order]))
