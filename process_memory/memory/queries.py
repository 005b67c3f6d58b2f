"""Lineage and reprocessing: which instances read what, and which of them to run again.

The original's rules, each answered from an index (memory/index.py):

- a *reader* read an entity by query (``_metadata.changeTrack == "query"``) in
  execution scope, from a table of its tag (the post's ``image``);
- a process's events are windowed by reference date, read as UTC;
- the latest reprocess of an original (by ``event.reprocessing.originalInstanceId``,
  newest event time first) replaces it wherever instances are returned for
  reprocessing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from process_memory.formats import utc_now
from process_memory.memory.document import event_date
from process_memory.memory.lineage_queries import EventQuery, ReaderQuery, entity_keys, utc_key
from process_memory.memory.service import MemoryService
from process_memory.memory.view import CurrentMemory
from process_memory.paging import Page, fetch_page

#: Rows per round trip when a compatibility route wants every answer.
ALL_BATCH = 1000
_Item = TypeVar("_Item")


def _every(read_page: Callable[[Any, int], list[_Item]], position: Callable[[_Item], Any]) -> Iterator[_Item]:
    """Yield every item of a keyset-paged read."""
    after = None
    while True:
        batch = read_page(after, ALL_BATCH)
        yield from batch
        if len(batch) < ALL_BATCH:
            return
        after = position(batch[-1])


class LineageService:
    """Reprocessing queries and the lineage pages of the API, over the memory indexes."""

    def __init__(self, memory: MemoryService, clock: Callable[[], datetime] = utc_now) -> None:
        self.memory = memory
        self.index = memory.index
        self.clock = clock

    # -- shared pieces ---------------------------------------------------------

    def substitute(self, instance_ids: Iterable[str], within: str = "") -> set[str]:
        """Replace each original by its latest reprocess (an instance never reprocessed stands for itself);
        only reprocesses whose id starts with ``within`` count."""
        found = set(instance_ids)
        latest = self.index.latest_reprocesses(sorted(found), within) if found else {}
        return (found - set(latest)) | set(latest.values())

    def window(self, process_id: str, begin: datetime, end: datetime | None, within: str = "") -> EventQuery:
        """Return the event query of a reference-date window; no end means now; a date without offset is UTC."""
        begin_key = utc_key(begin, "date_begin_validity")
        end_key = utc_key(end or self.clock(), "date_end_validity")
        return EventQuery(process_id, begin_key, end_key, within=within)

    def _fresh(self) -> None:
        self.memory.repair_stale()

    def _all_readers(self, query: ReaderQuery) -> set[str]:
        if not query.tables_by_tag:
            return set()  # no tag, no reader (and an empty OR is no query at all)
        self._fresh()

        def read(after: Any, limit: int) -> list[str]:
            return self.index.readers(dataclasses.replace(query, after=after, limit=limit))

        return set(_every(read, lambda iid: iid))

    def _all_events(self, query: EventQuery) -> list[CurrentMemory]:
        self._fresh()

        def read(after: Any, limit: int) -> list[CurrentMemory]:
            return self.index.events(dataclasses.replace(query, after=after, limit=limit))

        return list(_every(read, lambda view: (view.reference_date, view.instance_id)))

    def _with_events(self, instance_ids: set[str]) -> list[CurrentMemory]:
        views = self.index.load_views(sorted(instance_ids)) if instance_ids else []
        return [view for view in views if view.event_seq is not None]

    # -- the original's queries ----------------------------------------------------

    # Each takes ``within``: only instances whose id starts with it are answered (the request's key's prefix).

    def reprocessable_by_entities(
        self, entities: list[Any], tables_by_tag: dict[str, list[str]], within: str = ""
    ) -> list[str]:
        """Instances that read any of these entities from those tables of their tag, latest reprocess substituted."""
        readers = self._all_readers(ReaderQuery(tables_by_tag, entity_keys(entities), within=within))
        return sorted(self.substitute(readers, within))

    def by_tags(self, tables_by_tag: dict[str, list[str]], within: str = "") -> list[dict[str, Any]]:
        """``[{id, tag}]`` of the instances that queried those tables of their tag, latest reprocess substituted."""
        readers = self.substitute(self._all_readers(ReaderQuery(tables_by_tag, within=within)), within)
        return [{"id": view.instance_id, "tag": view.image} for view in self._with_events(readers)]

    def events_between(self, process_id: str, begin: datetime, end: datetime | None, within: str = "") -> list[str]:
        """The process's instances with an execution event in the window, by reference date."""
        return [view.instance_id for view in self._all_events(self.window(process_id, begin, end, within))]

    def current_events_between(
        self, process_id: str, begin: datetime, end: datetime | None, within: str = ""
    ) -> list[dict[str, Any]]:
        """``[{id, event}]`` of those instances, latest reprocess substituted."""
        events = self._all_events(self.window(process_id, begin, end, within))
        found = self.substitute((view.instance_id for view in events), within)
        return [{"id": view.instance_id, "event": view.name} for view in self._with_events(found)]

    def tag_tables(self, within: str = "", limit: int = 100) -> list[tuple[str, str]]:
        """The (tag, table) pairs reads came from, in order: what a reprocessing question can ask about."""
        self._fresh()
        return self.index.tag_tables(within, limit)

    def reprocess_relations(self, instance_id: str, within: str = "") -> tuple[str | None, str | None]:
        """What an instance reprocessed (its memory's original), and its latest reprocess (of ids that start with
        ``within``, as the key that asks reaches): None for each it has not."""
        view = self.index.load_view(instance_id)
        original = view.original_instance_id if view is not None else None
        if original is not None and not original.startswith(within):
            original = None
        return original, self.index.latest_reprocesses([instance_id], within).get(instance_id)

    # -- the API's pages ---------------------------------------------------------

    def _described(self, views: list[CurrentMemory], within: str) -> list[dict[str, Any]]:
        latest = self.index.latest_reprocesses([view.instance_id for view in views], within) if views else {}
        return [
            {
                "instance_id": view.instance_id,
                "current_instance_id": latest.get(view.instance_id, view.instance_id),
                "process_id": view.process_id,
                "event": view.name,
                "tag": view.image,
                "scope": view.scope,
                "reference_date": event_date(view.reference_date),
            }
            for view in views
        ]

    def readers_page(self, query: ReaderQuery) -> Page[dict[str, Any]]:
        """One page of reader instances by id, each with the reprocess that replaces it."""
        self._fresh()
        page = fetch_page(
            lambda n: self.index.readers(dataclasses.replace(query, limit=n)),
            query.limit,
            lambda iid: iid,
        )
        views = {view.instance_id: view for view in self.index.load_views(page.items)} if page.items else {}
        described = self._described([views.get(iid) or CurrentMemory(iid) for iid in page.items], query.within)
        return Page(described, page.next)

    def events_page(self, query: EventQuery) -> Page[dict[str, Any]]:
        """One page of a process's events by reference date; the cursor is ``<date key>|<instance id>``."""
        self._fresh()
        page = fetch_page(
            lambda n: self.index.events(dataclasses.replace(query, limit=n)),
            query.limit,
            lambda view: f"{view.reference_date}|{view.instance_id}",
        )
        return Page(self._described(page.items, query.within), page.next)
