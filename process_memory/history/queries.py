"""What a request asks of the history, validated: the query objects the API builds and the service and stores
read. They depend on nothing, so the API, the UI and the compatibility routes import them without the storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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


#: How instances can be listed: by id, by last activity (the most recent first) or by size (the most entries first).
InstanceOrder = Literal["id", "recent", "size"]
#: Each order's key: the summary fields it sorts on, the last the instance id that breaks ties.
ORDER_KEYS: dict[str, tuple[str, ...]] = {
    "id": ("instance_id",),
    "recent": ("last_recorded_at", "instance_id"),
    "size": ("count", "instance_id"),
}
#: The orders whose first page holds the largest keys.
DESCENDING_ORDERS = frozenset({"recent", "size"})


@dataclass(frozen=True)
class InstanceQuery:
    """A validated page request over the instances: in an order, filtered, after (or before) a cursor."""

    #: The cursor of the previous page's ``next`` (onwards), or of a page's first item (``before``: the page before).
    after: str | None = None
    limit: int = 100
    #: Only instances whose id starts with this.
    prefix: str = ""
    #: And with this: the prefix the request's key is limited to.
    within: str = ""
    order: InstanceOrder = "id"
    before: str | None = None
    #: Only instances whose last entry has this type.
    head_type: str | None = None
    #: Only instances whose last entry records a failure (True), or does not (False): history/failures.py's rule.
    failed: bool | None = None


@dataclass(frozen=True)
class SummaryListing:
    """What a summary store is asked for a page of instances: the order, the position past which to go on
    (``backward``: before which, the page then returned in the reverse order), and the filters."""

    order: InstanceOrder
    position: tuple[str | int, ...] | None
    limit: int
    prefix: str = ""
    backward: bool = False
    head_type: str | None = None
    failed: bool | None = None
