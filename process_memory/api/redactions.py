"""Redaction: erasing an entry's data for good while its proofs still hold (history/redacting.py)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from marshmallow import RAISE, Schema, validate

from process_memory.api import ApiBlueprint, history_service
from process_memory.api.fields import Text
from process_memory.api.rendering import entry_response
from process_memory.api.schemas import ApiErrorSchema, EntrySchema
from process_memory.formats import MAX_SEQ

blp = ApiBlueprint("redactions", __name__, description="Erasing an entry's data, recorded in the chain")

#: The longest reason a redaction may give; it is kept in the chain for good.
MAX_REASON = 1000


class RedactionSchema(Schema):
    """Why the data is erased."""

    class Meta:
        unknown = RAISE

    reason = Text(required=True, validate=validate.Length(min=1, max=MAX_REASON))


@blp.route(f"/<iid:instance_id>/history/<int(max={MAX_SEQ}):seq>/redaction")
class Redaction(MethodView):
    """The erasure of one entry's data."""

    @blp.arguments(RedactionSchema())
    @blp.response(201, EntrySchema, description="the entry as it now is; Location: its redaction entry")
    @blp.alt_response(200, schema=EntrySchema, description="redacted already, for this reason: a safe retry")
    @blp.alt_response(404, description="unknown instance, or no entry at that seq", schema=ApiErrorSchema)
    @blp.alt_response(
        409,
        description="redacted already for another reason, or a redaction entry or memory document",
        schema=ApiErrorSchema,
    )
    def post(self, redaction: dict[str, Any], instance_id: str, seq: int) -> Any:
        """Erase the data of the entry at a seq, and record why in a `redaction` entry appended to the chain."""
        redacted, record, created = history_service().redactor.redact(instance_id, seq, redaction["reason"])
        location = url_for("instances.Entry", instance_id=instance_id, seq=record.seq)
        return entry_response(redacted, 201 if created else 200, {"Location": location})
