"""Paging, in one place: a page is its items and the cursor of the next page (None on the last).

Every listing asks its store for one item more than it shows. The extra item
only tells whether a next page exists, so a count that is an exact multiple of
the page size never ends with an empty page. Search positions, the one cursor
that is more than a number or an id, are encoded and checked here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from process_memory.exceptions import InvalidInput
from process_memory.formats import INSTANCE_ID_PATTERN, MAX_SEQ, TIMESTAMP_PATTERN

T = TypeVar("T")
U = TypeVar("U")

#: A search position: ``<recorded_at>,<instance id>,<seq>`` (instance ids cannot hold a comma).
SEARCH_CURSOR_PATTERN = TIMESTAMP_PATTERN + "," + INSTANCE_ID_PATTERN + r",\d{1,19}"
_SEARCH_CURSOR_RE = re.compile(SEARCH_CURSOR_PATTERN)


class Page(NamedTuple, Generic[T]):
    """One page of a listing."""

    items: list[T]
    #: Where the next page starts; None on the last page.
    next: Any

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """Return the same page with every item converted."""
        return Page([convert(item) for item in self.items], self.next)


def fetch_page(fetch: Callable[[int], list[T]], limit: int, cursor_of: Callable[[T], Any]) -> Page[T]:
    """Return a page of at most ``limit`` items, ``fetch(n)`` returning up to ``n`` of them in order."""
    fetched = fetch(limit + 1)
    items = fetched[:limit]
    return Page(items, cursor_of(items[-1]) if len(fetched) > limit else None)


class SearchPosition(NamedTuple):
    """Where a search across instances continues: after this entry, in (recorded_at, instance, seq) order."""

    recorded_at: str
    instance_id: str
    seq: int


def encode_search_cursor(position: SearchPosition) -> str:
    """Return the cursor a client passes back as ``after``."""
    return ",".join(str(part) for part in position)


def decode_search_cursor(cursor: str) -> SearchPosition:
    """Return the position a cursor names; raise InvalidInput when it is malformed."""
    # Any well-formed position is a valid place to continue from, whether or not an entry is there.
    if not _SEARCH_CURSOR_RE.fullmatch(cursor):
        raise InvalidInput("invalid cursor", {"after": ["pass the next cursor of the previous page"]})
    recorded_at, instance_id, seq = cursor.split(",")
    return SearchPosition(recorded_at, instance_id, min(int(seq), MAX_SEQ))


#: Where a listing of instances goes on, in its order (queries.ORDER_KEYS): by id, any id-like text; by last
#: activity, ``<last_recorded_at>,<instance id>``; by size, ``<count>,<instance id>``.
_INSTANCE_CURSOR_RES = {
    "recent": re.compile(TIMESTAMP_PATTERN + "," + INSTANCE_ID_PATTERN),
    "size": re.compile(r"\d{1,19}," + INSTANCE_ID_PATTERN),
}
#: The largest count a cursor may name: a 64-bit signed integer, as the stores keep counts.
_MAX_COUNT = 2**63 - 1


def encode_instance_cursor(key: tuple[str | int, ...]) -> str:
    """Return the cursor of an instance's place in a listing, from its order's key."""
    return ",".join(str(part) for part in key)


def decode_instance_cursor(order: str, cursor: str | None, name: str) -> tuple[str | int, ...] | None:
    """Return the key a listing's cursor names in ``order``; raise InvalidInput, naming the parameter, when it is
    not one that order's pages give."""
    if cursor is None:
        return None
    if order == "id":
        return (cursor,)  # any text is a place among ids, whether or not an instance is there
    if not _INSTANCE_CURSOR_RES[order].fullmatch(cursor):
        raise InvalidInput("invalid cursor", {name: [f"pass a cursor of a page of the same sort ({order})"]})
    key, instance_id = cursor.split(",")
    return (min(int(key), _MAX_COUNT) if order == "size" else key, instance_id)


#: An event position: ``<reference date key>|<instance id>`` (date keys are ISO 8601 with microseconds).
EVENT_CURSOR_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\|" + INSTANCE_ID_PATTERN
_EVENT_CURSOR_RE = re.compile(EVENT_CURSOR_PATTERN)


def decode_event_cursor(cursor: str | None) -> tuple[str, str] | None:
    """Return the (reference date key, instance id) an event cursor names; raise InvalidInput when malformed."""
    if cursor is None:
        return None
    if not _EVENT_CURSOR_RE.fullmatch(cursor):
        raise InvalidInput("invalid cursor", {"after": ["pass the next cursor of the previous page"]})
    date, instance_id = cursor.split("|")
    return date, instance_id
