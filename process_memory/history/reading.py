"""Reading: single entries, pages of one history (with the live tail), search across instances, summaries.

Everything is returned as stored (``StoredEntry``, ``InstanceSummary``): the API renders it, once
(``api/rendering.py``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from process_memory.entry import StoredEntry
from process_memory.exceptions import NotFound, TooManyWaiting
from process_memory.formats import check_instance_id, narrow_prefix
from process_memory.history.context import HistoryContext
from process_memory.history.queries import HistoryQuery, InstanceQuery, SearchQuery
from process_memory.history.summaries import InstanceSummary
from process_memory.paging import Page, SearchPosition, decode_search_cursor, encode_search_cursor, fetch_page

#: How often a live-tail reader looks for entries appended by processes that cannot wake it (other hosts).
TAIL_POLL_SECONDS = 0.2


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
        (PostgreSQL's NOTIFY); otherwise they are seen within TAIL_POLL_SECONDS. The wait
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
                notifier.wait(min(deadline - time.monotonic(), TAIL_POLL_SECONDS))
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

    def recent_instances(self, query: InstanceQuery, before: tuple[str, str] | None) -> Page[InstanceSummary]:
        """Return one page of instance summaries by last activity, the most recent first, before the position
        ``before`` (``query.after`` aside); the cursor is the last shown's (last_recorded_at, instance_id)."""
        prefix = narrow_prefix(query.prefix, query.within)
        if prefix is None:
            return Page([], None)
        return fetch_page(
            lambda n: self.store.summaries.recent_summaries(before, n, prefix),
            query.limit,
            lambda summary: (summary.last_recorded_at, summary.instance_id),
        )

    def list_instances(self, query: InstanceQuery) -> Page[InstanceSummary]:
        """Return one page of instance summaries ordered by id; the cursor is the last id shown."""
        prefix = narrow_prefix(query.prefix, query.within)
        if prefix is None:
            return Page([], None)
        return fetch_page(
            lambda n: self.store.summaries.list_summaries(query.after, n, prefix),
            query.limit,
            lambda summary: summary.instance_id,
        )
