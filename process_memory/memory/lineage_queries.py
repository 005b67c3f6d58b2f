"""What a request asks of the lineage indexes, validated: the query objects the API builds and the indexes
answer, and the keys ids and moments are indexed by. They depend on no storage, so the API imports them alone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from process_memory.chain import canonical_json
from process_memory.memory.document import date_key, naive_utc

#: The only scope whose reads and events the reprocessing queries consider.
EXECUTION_SCOPE = "execution"


@dataclass(frozen=True)
class ReaderQuery:
    """Instances that read (by query, in execution scope) from these tables of these tags, optionally these entities."""

    #: tag (the post's ``image``) → the tables whose reads count.
    tables_by_tag: dict[str, list[str]]
    #: Canonical JSON of entity ids; None: any entity (the tables alone decide).
    entities: list[str] | None = None
    after: str | None = None
    limit: int = 100
    #: Only instances whose id starts with this (the prefix the request's key is limited to).
    within: str = ""


@dataclass(frozen=True)
class EventQuery:
    """A process's current events by reference date, in a window (bounds inclusive, as date keys)."""

    process_id: str
    begin: str
    end: str
    scope: str = EXECUTION_SCOPE
    #: The (reference date key, instance id) of the last event of the previous page.
    after: tuple[str, str] | None = None
    limit: int = 100
    #: Only instances whose id starts with this (the prefix the request's key is limited to).
    within: str = ""


def utc_key(moment: datetime, where: str) -> str:
    """Return a moment's date key, reading a moment without offset as UTC (the original shifted it by Brazil/East)."""
    return date_key(naive_utc(moment, where)) or ""


def entity_keys(ids: Iterable[Any]) -> list[str]:
    """Return entity ids as their index keys: canonical JSON, so an id matches only an equal JSON value."""
    return [canonical_json(entity).decode() for entity in ids]
