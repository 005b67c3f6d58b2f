"""Marshmallow schemas: the API contract, and the source of the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, fields, post_load, validate

from process_memory.history.service import INSTANCE_ID_PATTERN, SEARCH_CURSOR_PATTERN, NewEntry

_ETAG_SEQ = re.compile(r'^(?:W/)?"?(-?\d{1,19})"?$')
#: Seqs are stored as signed 64-bit integers.
MAX_SEQ = 2**63 - 1
MAX_BATCH = 1000
#: The longest a live-tail request may wait.
MAX_WAIT_SECONDS = 30


class NewEntrySchema(Schema):
    """An entry as posted by a client."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.Length(min=1, max=256))
    data = fields.Raw(required=True, allow_none=True, metadata={"description": "any JSON value"})
    metadata = fields.Dict(keys=fields.String(), load_default=dict)
    id = fields.UUID(load_default=None, metadata={"description": "given by the client for safe retries"})
    occurred_at = fields.AwareDateTime(load_default=None, metadata={"description": "RFC 3339 with an offset"})

    @post_load
    def make_entry(self, values: dict[str, Any], **_: Any) -> NewEntry:
        """Return the validated entry."""
        entry_id = values["id"]
        return NewEntry(
            type=values["type"],
            data=values["data"],
            metadata=values["metadata"],
            id=str(entry_id) if entry_id is not None else None,
            occurred_at=values["occurred_at"],
        )


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

    id = fields.String()
    seq = fields.Integer()
    hash = fields.String()
    outcome = fields.String(metadata={"description": "`created`, or `existing` when it was stored before"})


class BatchResultSchema(Schema):
    """The outcome of every entry of a batch, in the batch's order."""

    results = fields.List(fields.Nested(BatchOutcomeSchema))


class CloneSchema(Schema):
    """Where to clone to, and how far."""

    class Meta:
        unknown = RAISE

    to = fields.String(required=True, validate=validate.Regexp(f"^{INSTANCE_ID_PATTERN}$"))
    upto = fields.Integer(
        validate=validate.Range(min=0, max=MAX_SEQ), metadata={"description": "last seq to copy; default: the head"}
    )


class SearchArgsSchema(Schema):
    """Filters and cursor of a search across instances."""

    class Meta:
        unknown = RAISE

    type = fields.String(validate=validate.Length(min=1, max=256))
    since = fields.AwareDateTime(metadata={"description": "recorded_at >= since"})
    until = fields.AwareDateTime(metadata={"description": "recorded_at < until"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    after = fields.String(
        validate=validate.Regexp(f"^{SEARCH_CURSOR_PATTERN}$"),
        metadata={"description": "the `next` cursor of the previous page: `<recorded_at>,<instance id>,<seq>`"},
    )


class SearchPageSchema(Schema):
    """One page of entries of any instance."""

    items = fields.List(fields.Nested("EntrySchema"))
    next = fields.String(allow_none=True, metadata={"description": "pass as `after` for the next page"})


class AppendHeadersSchema(Schema):
    """Optional precondition on the head of the instance."""

    class Meta:
        unknown = EXCLUDE

    if_match = fields.String(
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


class EntrySchema(Schema):
    """A stored entry."""

    instance_id = fields.String()
    seq = fields.Integer()
    id = fields.String()
    type = fields.String()
    occurred_at = fields.String(allow_none=True)
    recorded_at = fields.String()
    metadata = fields.Dict()
    data = fields.Raw(allow_none=True)
    size = fields.Integer(metadata={"description": "bytes of the canonical JSON of data"})
    data_sha256 = fields.String()
    prev_hash = fields.String(allow_none=True, metadata={"description": "null for seq 0"})
    hash = fields.String()


class HistoryArgsSchema(Schema):
    """Filters and cursor of a history page."""

    class Meta:
        unknown = RAISE

    direction = fields.String(load_default="forward", validate=validate.OneOf(["forward", "backward"]))
    after = fields.Integer(validate=validate.Range(min=-1, max=MAX_SEQ))
    before = fields.Integer(validate=validate.Range(min=0, max=MAX_SEQ))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    type = fields.String(validate=validate.Length(min=1, max=256))
    since = fields.AwareDateTime(metadata={"description": "recorded_at >= since"})
    until = fields.AwareDateTime(metadata={"description": "recorded_at < until"})
    wait = fields.Float(
        validate=validate.Range(min=0, max=MAX_WAIT_SECONDS),
        metadata={"description": "live tail: seconds to wait for an entry when the page is empty"},
    )


class HistoryPageSchema(Schema):
    """One page of entries."""

    items = fields.List(fields.Nested(EntrySchema))
    next = fields.Integer(
        allow_none=True,
        metadata={"description": "pass as `after` (forward) or `before` (backward) for the next page"},
    )


class InstanceSchema(Schema):
    """What is known about an instance."""

    instance_id = fields.String()
    count = fields.Integer()
    first_recorded_at = fields.String()
    last_recorded_at = fields.String()
    head_seq = fields.Integer()
    head_hash = fields.String()


class InstanceListArgsSchema(Schema):
    """Cursor of an instance listing."""

    class Meta:
        unknown = RAISE

    after = fields.String(validate=validate.Length(min=1, max=128))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class InstancePageSchema(Schema):
    """One page of instances."""

    items = fields.List(fields.Nested(InstanceSchema))
    next = fields.String(allow_none=True, metadata={"description": "pass as `after` for the next page"})


class VerifySchema(Schema):
    """The outcome of walking an instance's chain."""

    ok = fields.Boolean()
    checked = fields.Integer(metadata={"description": "entries examined"})
    first_bad_seq = fields.Integer(allow_none=True)


class ApiErrorBodySchema(Schema):
    """The inside of every error response."""

    code = fields.String()
    message = fields.String()
    details = fields.Raw(allow_none=True)


class ApiErrorSchema(Schema):
    """Every error response."""

    error = fields.Nested(ApiErrorBodySchema)
