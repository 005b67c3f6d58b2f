"""Marshmallow schemas: the API contract, and the source of the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from process_memory.api.fields import AwareMoment, Text
from process_memory.entry import FIELD_SPECS, PROVENANCE_KEYS, Kind, NewEntry, shown_name
from process_memory.formats import INSTANCE_ID_RULE, MAX_SEQ, format_timestamp
from process_memory.history.queries import HistoryQuery, InstanceQuery, SearchQuery
from process_memory.paging import SEARCH_CURSOR_PATTERN
from process_memory.proofs.redactions import REDACTION_TYPE

_ETAG_SEQ = re.compile(r'^(?:W/)?"?(-?\d{1,19})"?$')
MAX_BATCH = 1000
#: The longest a live-tail request may wait.
MAX_WAIT_SECONDS = 30


class NewEntrySchema(Schema):
    """An entry as posted by a client."""

    class Meta:
        unknown = RAISE

    #: A large body keeps this field as canonical JSON text, never a parsed tree (api/parser.py).
    CANONICAL_FIELD = "data"

    type = Text(
        required=True,
        validate=[
            validate.Length(min=1, max=256),
            validate.NoneOf([REDACTION_TYPE], error="reserved: the service appends redaction entries itself"),
        ],
    )
    data = fields.Raw(required=True, allow_none=True, metadata={"description": "any JSON value"})
    metadata = fields.Dict(
        keys=fields.String(
            validate=validate.NoneOf(
                PROVENANCE_KEYS, error="reserved: only the service records where an entry came from"
            )
        ),
        load_default=dict,
        metadata={"description": f"any JSON object; the keys {', '.join(PROVENANCE_KEYS)} are the service's own"},
    )
    id = fields.UUID(load_default=None, metadata={"description": "given by the client for safe retries"})
    occurred_at = AwareMoment(load_default=None, metadata={"description": "RFC 3339 with an offset"})

    @post_load
    def make_entry(self, values: dict[str, Any], **_: Any) -> NewEntry:
        """Return the validated entry."""
        entry_id = values["id"]
        return NewEntry(**{**values, "id": str(entry_id) if entry_id is not None else None})


class BatchEntrySchema(NewEntrySchema):
    """An entry of a batch: its id is required, so the batch can be sent again safely."""

    id = fields.UUID(required=True, metadata={"description": "makes the entry idempotent"})


class BatchSchema(Schema):
    """A batch of entries, appended in order."""

    class Meta:
        unknown = RAISE

    entries = fields.List(
        fields.Nested(BatchEntrySchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH)
    )


class BatchOutcomeSchema(Schema):
    """What became of one entry of a batch."""

    id = Text()
    seq = fields.Integer()
    hash = Text()
    outcome = Text(metadata={"description": "`created`, or `existing` when it was stored before"})


class BatchResultSchema(Schema):
    """The outcome of every entry of a batch, in the batch's order."""

    results = fields.List(fields.Nested(BatchOutcomeSchema))


class CloneSchema(Schema):
    """Where to clone to, and how far."""

    class Meta:
        unknown = RAISE

    to = Text(required=True, validate=validate.Regexp(INSTANCE_ID_RULE))
    upto = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_SEQ),
        metadata={"description": "last seq to copy; default: the head"},
    )


class EntryFilterSchema(Schema):
    """The filters a history page and a search share: type, recorded time and page size."""

    class Meta:
        unknown = RAISE

    type = Text(validate=validate.Length(min=1, max=256))
    since = AwareMoment(metadata={"description": "recorded_at >= since"})
    until = AwareMoment(metadata={"description": "recorded_at < until"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))

    @staticmethod
    def stored_form(values: dict[str, Any]) -> dict[str, Any]:
        """Return the filters with times written as they are stored, so stores compare text with text."""
        return {**values, **{name: format_timestamp(values[name]) for name in ("since", "until") if name in values}}


class SearchArgsSchema(EntryFilterSchema):
    """Filters and cursor of a search across instances."""

    after = Text(
        validate=validate.Regexp(f"^{SEARCH_CURSOR_PATTERN}$"),
        metadata={"description": "the `next` cursor of the previous page: `<recorded_at>,<instance id>,<seq>`"},
    )

    @post_load
    def make_query(self, values: dict[str, Any], **_: Any) -> SearchQuery:
        """Return the validated search."""
        return SearchQuery(**self.stored_form(values))


class AppendHeadersSchema(Schema):
    """Optional precondition on the head of the instance."""

    class Meta:
        unknown = EXCLUDE

    if_match = Text(
        data_key="If-Match",
        validate=validate.Regexp(_ETAG_SEQ, error='If-Match must be a quoted seq such as "41"'),
        metadata={"description": 'the expected head seq, quoted: "41"; "-1" for an empty instance'},
    )

    @post_load
    def expected_head(self, values: dict[str, Any], **_: Any) -> int | None:
        """Return the expected head seq, or None without a precondition."""
        value = values.get("if_match")
        match = _ETAG_SEQ.match(value) if value is not None else None
        return int(match.group(1)) if match else None


#: How the API shows each kind of entry field.
_SHOWN_AS: dict[Kind, type[fields.Field]] = {
    "text": fields.String,
    "integer": fields.Integer,
    "timestamp": fields.String,
    "object": fields.Dict,
    "json": fields.Raw,
}

#: A stored entry, as the API shows it: one field for each field of the entry record (entry.py).
EntrySchema = Schema.from_dict(
    {
        shown_name(name): _SHOWN_AS[spec.kind](
            allow_none=spec.nullable, metadata={"description": spec.description} if spec.description else {}
        )
        for name, spec in FIELD_SPECS.items()
    },
    name="EntrySchema",
)


#: What a client does with the ``next`` of most pages.
NEXT_AFTER = "pass as `after` for the next page"


def page_schema(name: str, item: type[Schema], cursor: type[fields.Field], use: str = NEXT_AFTER) -> type[Schema]:
    """Return the schema of one page of ``item``: the items, and the cursor of the next page (null on the last)."""
    next_page = cursor(allow_none=True, metadata={"description": use})
    return Schema.from_dict({"items": fields.List(fields.Nested(item)), "next": next_page}, name=name)


class HistoryArgsSchema(EntryFilterSchema):
    """Filters and cursor of a history page."""

    direction = Text(load_default="forward", validate=validate.OneOf(["forward", "backward"]))
    after = fields.Integer(validate=validate.Range(min=-1, max=MAX_SEQ))
    before = fields.Integer(validate=validate.Range(min=0, max=MAX_SEQ))
    wait = fields.Float(
        validate=validate.Range(min=0, max=MAX_WAIT_SECONDS),
        metadata={"description": "live tail: seconds to wait for an entry when the page is empty"},
    )

    @post_load
    def make_query(self, values: dict[str, Any], **_: Any) -> HistoryQuery:
        """Return the validated page request."""
        return HistoryQuery(**self.stored_form(values))


HistoryPageSchema = page_schema(
    "HistoryPageSchema",
    EntrySchema,
    fields.Integer,
    "pass as `after` (forward) or `before` (backward) for the next page",
)
SearchPageSchema = page_schema("SearchPageSchema", EntrySchema, fields.String)


class InstanceSchema(Schema):
    """What is known about an instance."""

    instance_id = Text()
    count = fields.Integer()
    first_recorded_at = Text()
    last_recorded_at = Text()
    head_seq = fields.Integer()
    head_hash = Text()
    head_type = Text(allow_none=True, metadata={"description": "the last entry's type (null: not yet known)"})
    head_failed = fields.Boolean(
        allow_none=True,
        metadata={"description": "whether the last entry records a failure (docs/api.md; null: not yet known)"},
    )


class InstanceListArgsSchema(Schema):
    """An instance listing: its order, filters and cursor."""

    class Meta:
        unknown = RAISE

    after = Text(
        validate=validate.Length(min=1, max=160), metadata={"description": "the previous page's next: go on from there"}
    )
    before = Text(
        validate=validate.Length(min=1, max=160),
        metadata={"description": "a page's first instance's cursor: the page before it (its next goes on back)"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    prefix = Text(validate=validate.Length(max=128), metadata={"description": "only ids that start with this"})
    sort = fields.String(
        data_key="sort",
        attribute="order",
        load_default="id",
        validate=validate.OneOf(["id", "recent", "size"]),
        metadata={"description": "by id; by last activity, the most recent first; by size, the most entries first"},
    )
    head_type = Text(
        data_key="type",
        validate=validate.Length(min=1, max=256),
        metadata={"description": "only instances whose last entry has this type"},
    )
    failed = fields.Boolean(
        metadata={"description": "only instances whose last entry records a failure (true), or does not (false)"}
    )

    @validates_schema
    def one_cursor(self, values: dict[str, Any], **_: Any) -> None:
        """A page goes on one way: onwards from ``after`` or back from ``before``."""
        if "after" in values and "before" in values:
            raise ValidationError("give after or before, not both", "before")

    @post_load
    def make_query(self, values: dict[str, Any], **_: Any) -> InstanceQuery:
        """Return the validated page request."""
        return InstanceQuery(**values)


InstancePageSchema = page_schema("InstancePageSchema", InstanceSchema, fields.String)


class VerifySchema(Schema):
    """The outcome of walking an instance's chain."""

    ok = fields.Boolean()
    checked = fields.Integer(metadata={"description": "entries examined"})
    first_bad_seq = fields.Integer(allow_none=True)


class ApiErrorBodySchema(Schema):
    """The inside of every error response."""

    code = Text()
    message = Text()
    details = fields.Raw(allow_none=True)


class ApiErrorSchema(Schema):
    """Every error response."""

    error = fields.Nested(ApiErrorBodySchema)
