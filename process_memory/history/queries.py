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


@dataclass(frozen=True)
class InstanceQuery:
    """A validated page request over the instances, by id."""

    after: str | None = None
    limit: int = 100
    #: Only instances whose id starts with this.
    prefix: str = ""
    #: And with this: the prefix the request's key is limited to.
    within: str = ""
