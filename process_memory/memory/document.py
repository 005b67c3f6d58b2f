"""What a memory document is: its parts, the header the original derived from it, and its dates.

This is the one place that reads a posted memory document. ``parse_memory``
checks it and returns a :class:`MemoryPost`, which the view fold
(``memory/view.py``) and the append path use; anything it refuses is a 422
naming the part, before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from process_memory.chain import canonical_json
from process_memory.exceptions import InvalidInput

#: The metadata key that marks an entry's data as a memory document (its value is the format version).
MEMORY_MARKER = "memory_document"
MEMORY_FORMAT = 1


def is_memory_marked(metadata: dict[str, Any]) -> bool:
    """Whether an entry's metadata marks it as a memory document: the marker's presence, whatever its value.

    The one rule for every reader and writer: appending refuses a marker other than ``MEMORY_FORMAT``
    (null included), so a marked entry that was stored is always a memory document.
    """
    return MEMORY_MARKER in metadata


#: The longest text an index key (entity id, tag, table, process id, scope, original instance, item type) may be:
#: keys are indexed together, and PostgreSQL's b-tree takes about 2,700 bytes per index entry.
MAX_KEY_LENGTH = 128
#: The header fields a memory document carries at its top level.
HEADER_FIELDS = ("processId", "systemId", "eventOut", "commit", "version", "image")
#: The event fields the original kept, in its order; dates are rendered, the rest are kept as posted.
EVENT_FIELDS = ("name", "scope", "instanceId", "reproduction", "reprocessing", "image", "timestamp", "owner", "tag")
EVENT_TAIL_FIELDS = ("referenceDate", "branch")
#: How the original rendered an event's dates.
EVENT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class ReadRow:
    """One entity an instance read by query (``_metadata.changeTrack == "query"``): what reprocessing matches on."""

    #: Canonical JSON of the entity's ``id``, so ids of any JSON type match exactly.
    entity: str
    image: str | None
    table: str | None
    scope: str | None


@dataclass(frozen=True)
class ItemRow:
    """One ``instance_filter`` or ``inputs`` item, kept with the header of the post that brought it."""

    kind: str
    position: int
    type: str | None
    #: Canonical JSON of the item as rendered: the posted item with the post's header.
    item_json: str


@dataclass(frozen=True)
class MemoryPost:
    """A checked memory document: the parts each post may carry, and the header derived from it."""

    header: dict[str, Any]
    #: The event as the original kept it, without its payload (read from the entry); None when not posted.
    event: dict[str, Any] | None
    fork: dict[str, Any] | None
    app_name: Any
    #: Whether the post replaces the maps, and the entities (a non-empty ``content`` / ``entities``).
    replaces_maps: bool
    replaces_entities: bool
    reads: list[ReadRow]
    items: list[ItemRow]

    def key(self, field: str) -> str | None:
        """Return a header field as an index key: text, or None when it is anything else."""
        value = self.header.get(field)
        return value if isinstance(value, str) else None

    def named_instances(self) -> list[str]:
        """The other instances the post names: the one a reprocess runs again, and a reproduction's ends.

        The reprocessing queries answer from these, so whoever posts one must be allowed to reach each.
        """
        reprocessing, reproduction = self.header.get("reprocessing"), self.header.get("reproduction")
        named = [reprocessing.get("originalInstanceId")] if isinstance(reprocessing, dict) else []
        named += [reproduction.get(end) for end in ("from", "to")] if isinstance(reproduction, dict) else []
        return [value for value in named if isinstance(value, str)]


def unwrap(body: Any) -> Any:
    """Return the memory document of a posted body, which may be wrapped as ``{"json": document}``."""
    if isinstance(body, dict) and "json" in body:
        return body["json"]
    return body


def naive_utc(moment: datetime, where: str) -> datetime:
    """Return a moment as naive UTC, reading one without an offset as UTC; 422 when UTC cannot hold it."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first moment a datetime holds
        raise InvalidInput("a date is out of range", {where: ["a date from year 1 to 9999 in UTC"]}) from None


def parse_date(value: Any, where: str) -> datetime | None:
    """Return a posted date as naive UTC (the original's form); None for null or ""; 422 for anything else.

    The original accepted only ``%Y-%m-%dT%H:%M:%S.%fZ`` (anything else was a 500); any ISO 8601 date is taken.
    """
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidInput(
            "a date is not an ISO 8601 date", {where: ["an ISO 8601 date, e.g. 2026-01-31T00:00:00.000Z"]}
        )
    return naive_utc(moment, where)


def date_key(moment: datetime | None) -> str | None:
    """Return a date as fixed-width text that sorts as the date does (year zero-padded), for indexes."""
    return moment.isoformat(timespec="microseconds") if moment is not None else None


def header_date(moment: datetime | None) -> str | None:
    """Return a header date as the original's JSON encoder wrote it (``datetime.isoformat()``)."""
    return moment.isoformat() if moment is not None else None


def event_date(key: str | None) -> str | None:
    """Return an event date, from its index key, as the original rendered it: ``%Y-%m-%dT%H:%M:%S.%fZ``."""
    return key + "Z" if key is not None else None


def _part(document: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = document.get(name, default)
    if value is not None and not isinstance(value, kind):
        shape = "an object" if kind is dict else "a list"
        raise InvalidInput(f"{name} must be {shape}", {name: [f"{shape} or null"]})
    return value


def _check_key(value: Any, where: str, length: int | None = MAX_KEY_LENGTH) -> None:
    """Refuse an indexed string too long for its column, or holding NUL, which PostgreSQL text cannot."""
    if not isinstance(value, str):
        return
    if length is not None and len(value) > length:
        raise InvalidInput("an index key is too long", {where: [f"at most {length} characters"]})
    if "\0" in value:
        raise InvalidInput("an indexed string holds NUL", {where: ["must not contain NUL (\\u0000)"]})


def _header(document: dict[str, Any], event: dict[str, Any], instance_id: str, app_name: Any) -> dict[str, Any]:
    """The header the original stored with every part of a post; the instance is the URL's, never the body's."""
    header: dict[str, Any] = {"instanceId": instance_id}
    header.update({field: document.get(field) for field in HEADER_FIELDS})
    header["referenceDate"] = parse_date(event.get("referenceDate"), "event.referenceDate")
    for field in ("scope", "reproduction", "reprocessing", "tag"):
        header[field] = event.get(field)
    header["app_name"] = app_name
    header["timestamp"] = parse_date(event.get("timestamp"), "event.timestamp")
    for field in ("processId", "image", "scope"):
        _check_key(header[field], field if field != "scope" else "event.scope")
    _check_key(event.get("name"), "event.name", length=None)
    if isinstance(header["reprocessing"], dict):
        _check_key(header["reprocessing"].get("originalInstanceId"), "event.reprocessing.originalInstanceId")
    return header


def _event(event: dict[str, Any], header: dict[str, Any], instance_id: str) -> dict[str, Any]:
    """The event as the original kept it (its payload aside): some fields from the header, dates rendered."""
    kept = {field: event.get(field) for field in EVENT_FIELDS + EVENT_TAIL_FIELDS}
    kept.update(
        instanceId=instance_id,
        reproduction=header["reproduction"],
        reprocessing=header["reprocessing"],
        image=header["image"],
        timestamp=event_date(date_key(header["timestamp"])),
        referenceDate=event_date(date_key(header["referenceDate"])),
    )
    return kept


def _reads(entities: dict[str, Any], header: dict[str, Any]) -> list[ReadRow]:
    """The entities read by query, as the reprocessing queries match them."""
    rows = []
    image = header["image"] if isinstance(header["image"], str) else None
    scope = header["scope"] if isinstance(header["scope"], str) else None
    for type_name, records in entities.items():
        if records is not None and not isinstance(records, list):
            raise InvalidInput(
                "dataset.entities maps each type to a list", {f"dataset.entities.{type_name}": ["a list"]}
            )
        for record in records or []:
            meta = record.get("_metadata") if isinstance(record, dict) else None
            # Only records read by a query are reads; one without an id cannot be matched.
            if not isinstance(meta, dict) or meta.get("changeTrack") != "query" or "id" not in record:
                continue
            entity = canonical_json(record["id"]).decode()
            table = meta.get("table") if isinstance(meta.get("table"), str) else None
            _check_key(entity, "dataset.entities[].id")
            _check_key(table, "dataset.entities[]._metadata.table")
            rows.append(ReadRow(entity, image, table, scope))
    return rows


def _items(kind: str, items: list[Any], header_json: dict[str, Any]) -> list[ItemRow]:
    rows = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"{kind} holds objects", {kind: ["a list of objects"]})
        # An input's type is in its _metadata, which may be anything a client sent.
        meta = item.get("type") if kind == "instance_filter" else item.get("_metadata")
        type_name = meta if kind == "instance_filter" else meta.get("type") if isinstance(meta, dict) else None
        type_name = type_name if isinstance(type_name, str) else None
        _check_key(type_name, f"{kind}[].type")
        rows.append(ItemRow(kind, position, type_name, canonical_json({**item, "header": header_json}).decode()))
    return rows


def rendered_header(header: dict[str, Any]) -> dict[str, Any]:
    """Return the header as the original's clients read it: dates as ``isoformat()``."""
    return {
        name: header_date(value) if name in ("referenceDate", "timestamp") else value for name, value in header.items()
    }


def parse_memory(body: Any, instance_id: str) -> MemoryPost:
    """Check a memory document (wrapped or not) and return its parts; 422 naming the part that cannot be one."""
    document = unwrap(body)
    if not isinstance(document, dict):
        raise InvalidInput("a memory document is a JSON object", {"body": ["a JSON object"]})
    event = _part(document, "event", dict)
    fork = _part(document, "fork", dict)
    maps = _part(document, "map", dict, {}) or {}
    content = _part(maps, "content", dict)
    dataset = _part(document, "dataset", dict, {}) or {}
    entities = _part(dataset, "entities", dict)
    filters = _part(document, "instance_filter", list)
    inputs = _part(document, "inputs", list)
    header = _header(document, event or {}, instance_id, maps.get("name"))
    shown_header = rendered_header(header)
    return MemoryPost(
        header=header,
        event=_event(event, header, instance_id) if event else None,
        fork={**{k: v for k, v in fork.items() if v}, "header": shown_header} if fork else None,
        app_name=maps.get("name"),
        replaces_maps=bool(content),
        replaces_entities=bool(entities),
        reads=_reads(entities, header) if entities else [],
        items=_items("instance_filter", filters or [], shown_header) + _items("inputs", inputs or [], shown_header),
    )
