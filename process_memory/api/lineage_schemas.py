"""Schemas of the platform's memory: the original's query bodies, and the lineage routes of /api/v1."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from process_memory.api.fields import Moment, Text
from process_memory.formats import INSTANCE_ID_RULE
from process_memory.memory.document import MAX_KEY_LENGTH
from process_memory.memory.lineage_queries import EXECUTION_SCOPE, EventQuery, ReaderQuery, entity_keys, utc_key
from process_memory.paging import EVENT_CURSOR_PATTERN, decode_event_cursor

_KEY = validate.Length(min=1, max=MAX_KEY_LENGTH)
#: The most instances one request may name (the original had no limit; a URL or body has to).
MAX_INSTANCES = 1000
#: The most documents the Node-era routes return at once (the original's cap on `/first/<n>`).
MAX_DOCUMENTS = 1000
#: The most tags one reprocessing query may name (each is a branch of one database query), and tables per tag.
MAX_TAGS = 100
MAX_TABLES = 100
#: The most entity ids one reprocessing query may name (they are bound as parameters of one query).
MAX_ENTITIES = 10_000
#: The most item types asked for at once, per instance.
MAX_TYPES = 100


class _QueryMap(fields.Dict):
    """An object whose keys name stored keys (tags, instance ids) to look up.

    A key holding NUL names nothing stored (no backend keeps one), so it is left out of the query:
    OpenAPI 3.0 cannot put a pattern on an object's keys, and every backend then answers alike.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        found = super()._deserialize(value, attr, data, **kwargs)
        return {key: names for key, names in found.items() if "\0" not in key}


def _tables_by_tag(**options: Any) -> fields.Dict:
    return _QueryMap(
        keys=fields.String(),
        values=fields.List(Text(), validate=validate.Length(max=MAX_TABLES)),
        validate=validate.Length(max=MAX_TAGS),
        metadata={
            "description": f"tag (the post's `image`) → the tables whose reads count; at most {MAX_TAGS} tags "
            f"of {MAX_TABLES} tables"
        },
        **options,
    )


class _OriginalBody(Schema):
    """The original's bodies: fields it did not read are ignored, as it ignored them."""

    class Meta:
        unknown = EXCLUDE


class ByEntitiesSchema(_OriginalBody):
    """``POST /instances/reprocessable/byentities``."""

    entities = fields.List(
        fields.Raw(allow_none=True),
        required=True,
        validate=validate.Length(max=MAX_ENTITIES),
        metadata={"description": f"entity ids (`data.id`), any JSON; at most {MAX_ENTITIES}"},
    )
    tables_grouped_by_tags = _tables_by_tag(required=True)


class ByTagsSchema(_OriginalBody):
    """``POST /instances/bytags``."""

    tables_grouped_by_tags = _tables_by_tag(required=True)


class DatesSchema(_OriginalBody):
    """``POST /events/between/dates`` and ``/current/events/between/dates``: dates are ISO 8601, read as UTC."""

    process_id = Text(required=True)
    date_begin_validity = Moment(required=True, metadata={"description": "no offset: UTC"})
    date_end_validity = Moment(
        load_default=None, allow_none=True, metadata={"description": "no offset: UTC; null: now"}
    )


class HistoryCountSchema(Schema):
    """The Node service's ``GET /{id}/history?first=N|last=N``."""

    class Meta:
        unknown = EXCLUDE

    first = fields.Integer(validate=validate.Range(min=1, max=MAX_DOCUMENTS))
    last = fields.Integer(validate=validate.Range(min=1, max=MAX_DOCUMENTS), metadata={"description": "not with first"})

    @validates_schema
    def one_end(self, values: dict[str, Any], **_: Any) -> None:
        """Refuse both ends at once, as the Node service did."""
        if values.get("first") is not None and values.get("last") is not None:
            raise ValidationError("pass first or last, not both", "first")


class InstanceIdsSchema(_OriginalBody):
    """``POST /instance_filters/byinstanceids``."""

    instance_ids = fields.List(Text(), required=True, validate=validate.Length(max=MAX_INSTANCES))


class InstancesAndTypesSchema(_OriginalBody):
    """``POST /instance_filters/byinstanceidsandtypes``."""

    instances_and_types = _QueryMap(
        keys=fields.String(),
        values=fields.List(Text(), validate=validate.Length(max=MAX_TYPES)),
        required=True,
        validate=validate.Length(max=MAX_INSTANCES),
    )


class ReaderArgsSchema(Schema):
    """``GET /api/v1/lineage/readers``: who read these entities (or anything) from these tables of a tag."""

    class Meta:
        unknown = RAISE

    tag = Text(required=True, validate=_KEY, metadata={"description": "the readers' tag (`image`)"})
    table = fields.List(Text(validate=_KEY), required=True, validate=validate.Length(min=1, max=100))
    entity = fields.List(
        Text(validate=_KEY),
        load_default=list,
        validate=validate.Length(max=MAX_INSTANCES),
        metadata={"description": "entity ids (JSON strings); none: any entity of those tables"},
    )
    after = Text(validate=validate.Regexp(INSTANCE_ID_RULE))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))

    @post_load
    def make_query(self, values: dict[str, Any], **_: Any) -> ReaderQuery:
        """Return the validated query."""
        entities = entity_keys(values["entity"]) if values["entity"] else None
        return ReaderQuery({values["tag"]: values["table"]}, entities, values.get("after"), values["limit"])


class EventArgsSchema(Schema):
    """``GET /api/v1/lineage/events``: a process's events by reference date."""

    class Meta:
        unknown = RAISE

    process_id = Text(required=True, validate=_KEY)
    since = Moment(required=True, metadata={"description": "reference date from (inclusive; no offset: UTC)"})
    until = Moment(required=True, metadata={"description": "reference date to (inclusive; no offset: UTC)"})
    scope = Text(load_default=EXECUTION_SCOPE, validate=_KEY)
    after = Text(validate=validate.Regexp(f"^{EVENT_CURSOR_PATTERN}$"))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))

    @post_load
    def make_query(self, values: dict[str, Any], **_: Any) -> EventQuery:
        """Return the validated query."""
        begin, end = (utc_key(values[name], name) for name in ("since", "until"))
        after = decode_event_cursor(values.get("after"))
        return EventQuery(values["process_id"], begin, end, values["scope"], after, values["limit"])


class ItemArgsSchema(Schema):
    """``GET /api/v1/lineage/items``: the ``instance_filter`` or ``inputs`` items of some instances."""

    class Meta:
        unknown = RAISE

    instance = fields.List(
        Text(validate=validate.Regexp(INSTANCE_ID_RULE)),
        required=True,
        validate=validate.Length(min=1, max=MAX_INSTANCES),
    )
    kind = Text(load_default="instance_filter", validate=validate.OneOf(["instance_filter", "inputs"]))
    type = fields.List(
        Text(validate=_KEY),
        load_default=list,
        validate=validate.Length(max=MAX_TYPES),
        metadata={"description": "none: every type"},
    )

    @post_load
    def make_query(self, values: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Return the validated query; no type means every type."""
        return {**values, "type": values["type"] or None}


class LineageInstanceSchema(Schema):
    """An instance in a lineage answer, with the reprocess that replaces it."""

    instance_id = Text()
    current_instance_id = Text(
        metadata={"description": "its latest reprocess (newest event time), or itself: the instance to run again"}
    )
    process_id = Text(allow_none=True)
    event = Text(allow_none=True, metadata={"description": "the current event's name"})
    tag = Text(allow_none=True, metadata={"description": "the current event's `image`"})
    scope = Text(allow_none=True)
    reference_date = Text(allow_none=True)


class ItemListSchema(Schema):
    """Items as posted, each with the header of the post that brought it."""

    items = fields.List(fields.Dict())


def memory_document_schema() -> dict[str, Any]:
    """The OpenAPI schema of a posted memory document: what ``memory/document.parse_memory`` checks, no more.

    Only rules the service always applies are stated, so that what the schema allows is stored and what it
    refuses is refused. Constraints without a type bind only values of their type: an index key is
    checked when it is text. A date is empty or any ISO 8601 date; the pattern gives the form the platform writes.
    """
    key = {"maxLength": MAX_KEY_LENGTH, "pattern": "^[^\\u0000]*$", "description": "when text: an index key"}
    date = {
        "type": "string",
        "nullable": True,
        "pattern": r"^$|^(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?Z$",
    }

    def optional(kind: str, **schema: Any) -> dict[str, Any]:
        return {"type": kind, "nullable": True, **schema}

    parts = {
        "event": optional(
            "object",
            properties={
                "referenceDate": date,
                "timestamp": date,
                "scope": key,
                "name": {"pattern": "^[^\\u0000]*$"},
                "reprocessing": {"properties": {"originalInstanceId": key}},
            },
        ),
        "fork": optional("object"),
        "map": optional("object", properties={"content": optional("object")}),
        "dataset": optional(
            "object", properties={"entities": optional("object", additionalProperties=optional("array"))}
        ),
        "instance_filter": optional("array", items={"type": "object", "properties": {"type": key}}),
        "inputs": optional("array", items={"type": "object"}),
        "processId": key,
        "image": key,
    }
    document = {"type": "object", "properties": parts}
    # Wrapped, the rest of the body is not read; unwrapped, a "json" member would make it wrapped.
    return {
        "anyOf": [
            {"type": "object", "required": ["json"], "properties": {"json": document}},
            {**document, "not": {"required": ["json"]}},
        ],
        "description": "a memory document (event, map, dataset, fork, instance_filter, inputs and header "
        'fields), optionally wrapped as {"json": document}',
    }
