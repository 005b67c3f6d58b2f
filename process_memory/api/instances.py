"""Instances and their history: append, read, page, verify."""

from __future__ import annotations

import itertools
from typing import Any

from flask import Response, request, stream_with_context, url_for
from flask.views import MethodView
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from process_memory.api import (
    ApiBlueprint,
    client_connected,
    history_service,
    next_link,
    paged,
    within_key,
)
from process_memory.api.access import check_instances
from process_memory.api.parser import load_json_body
from process_memory.api.proofs import receipt_headers
from process_memory.api.rendering import entry_lines, entry_response, page_response
from process_memory.api.schemas import (
    ApiErrorSchema,
    AppendHeadersSchema,
    BatchResultSchema,
    BatchSchema,
    CloneSchema,
    EntrySchema,
    HistoryArgsSchema,
    HistoryPageSchema,
    InstanceListArgsSchema,
    InstancePageSchema,
    InstanceSchema,
    NewEntrySchema,
    VerifySchema,
)
from process_memory.entry import NewEntry
from process_memory.exceptions import InvalidInput
from process_memory.formats import MAX_SEQ
from process_memory.history.queries import HistoryQuery, InstanceQuery
from process_memory.store_failures import failing_as_store_errors

blp = ApiBlueprint("instances", __name__, description="App instances and their immutable history")

_NOT_FOUND = {"description": "unknown instance or entry", "schema": ApiErrorSchema}


@blp.route("")
class Instances(MethodView):
    """The known instances."""

    @blp.arguments(InstanceListArgsSchema(), location="query")
    @blp.response(200, InstancePageSchema)
    def get(self, query: InstanceQuery) -> Any:
        """List instance summaries by id, by last activity or by size, filtered by the last entry's type or by
        whether it records a failure, a page at a time, onwards (``after``) or back (``before``)."""
        page = history_service().reader.list_instances(within_key(query))
        return paged(page, "before" if query.before is not None else "after")


@blp.route("/<iid:instance_id>")
class Instance(MethodView):
    """One instance."""

    @blp.response(200, InstanceSchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Return an instance's summary."""
        return history_service().reader.get_instance(instance_id)


@blp.route("/<iid:instance_id>/history")
class History(MethodView):
    """An instance's history."""

    @blp.arguments(NewEntrySchema())
    @blp.arguments(AppendHeadersSchema(), location="headers")
    @blp.response(201, EntrySchema, description="appended")
    @blp.alt_response(200, schema=EntrySchema, description="the same id and content again: a safe retry")
    @blp.alt_response(409, description="the same id with other content", schema=ApiErrorSchema)
    @blp.alt_response(412, description="If-Match is not the current head", schema=ApiErrorSchema)
    def post(self, new: NewEntry, expected_head: int | None, instance_id: str) -> Any:
        """Append an entry."""
        service = history_service()
        [(stored, created)] = service.appender.append_entries(instance_id, [new], expected_head)
        location = url_for("instances.Entry", instance_id=instance_id, seq=stored.seq)
        headers = {"Location": location, "ETag": f'"{stored.seq}"', **receipt_headers(instance_id, stored.seq)}
        return entry_response(stored, 201 if created else 200, headers, posted=new.data)

    @blp.arguments(HistoryArgsSchema(), location="query")
    @blp.response(200, HistoryPageSchema)
    def get(self, query: HistoryQuery, instance_id: str) -> Any:
        """Read a page of history, forwards or backwards."""
        page = history_service().reader.read_history(instance_id, query, client_connected())
        return page_response(page, next_link("after" if query.direction == "forward" else "before", page.next))


@blp.route("/<iid:instance_id>/history/batch")
class HistoryBatch(MethodView):
    """Many entries at once."""

    @blp.arguments(BatchSchema())
    @blp.arguments(AppendHeadersSchema(), location="headers")
    @blp.response(201, BatchResultSchema, description="at least one entry was created")
    @blp.alt_response(200, schema=BatchResultSchema, description="every entry was stored already")
    @blp.alt_response(
        409, description="an id exists with other content; nothing more was stored", schema=ApiErrorSchema
    )
    @blp.alt_response(412, description="If-Match is not the current head", schema=ApiErrorSchema)
    def post(self, batch: dict[str, Any], expected_head: int | None, instance_id: str) -> Any:
        """Append up to 1,000 entries in order, each idempotent by its id."""
        results = history_service().appender.append_entries(instance_id, batch["entries"], expected_head)
        outcomes = [
            {"id": stored.id, "seq": stored.seq, "hash": stored.hash, "outcome": "created" if created else "existing"}
            for stored, created in results
        ]
        status = 201 if any(created for _, created in results) else 200
        return {"results": outcomes}, status, receipt_headers(instance_id, max(stored.seq for stored, _ in results))


@blp.route("/<iid:instance_id>/clone")
class Clone(MethodView):
    """A copy of a history."""

    @blp.arguments(CloneSchema())
    @blp.response(201, InstanceSchema, description="the new instance")
    @blp.alt_response(404, **_NOT_FOUND)
    @blp.alt_response(409, description="the target instance already has entries", schema=ApiErrorSchema)
    def post(self, clone: dict[str, Any], instance_id: str) -> Any:
        """Copy an instance's entries (up to a seq) into a new instance, with a fresh chain."""
        check_instances(clone["to"])  # the key must reach the target too
        summary = history_service().copier.clone(instance_id, clone["to"], clone.get("upto"))
        return summary, 201, {"Location": url_for("instances.Instance", instance_id=clone["to"])}


@blp.route("/<iid:instance_id>/export")
class Export(MethodView):
    """A whole history as NDJSON."""

    @blp.response(200, description="one entry per line, in order, data inline", content_type="application/x-ndjson")
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Stream an instance's whole history as NDJSON, in constant memory."""
        rendered = entry_lines(history_service().copier.export_entries(instance_id))
        # The first entry is read before the answer starts, so a store that fails at once is a 503. One that
        # fails later ends the stream without HTTP's end of body, which every client reports as incomplete.
        first = next(rendered, None)
        lines = itertools.chain([] if first is None else [first], failing_as_store_errors(rendered))
        return Response(
            stream_with_context(lines),
            mimetype="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{instance_id}.ndjson"', "X-Accel-Buffering": "no"},
        )  # nginx passes the stream on as it comes


@blp.route("/<iid:instance_id>/import")
class Import(MethodView):
    """A history brought back from an export."""

    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string", "description": "an export: one entry per line"}}
            },
        }
    )
    @blp.response(201, InstanceSchema, description="the imported instance")
    @blp.alt_response(409, description="the instance already has entries", schema=ApiErrorSchema)
    @blp.alt_response(
        422, description="a line breaks the chain (`details.seq`); nothing was stored", schema=ApiErrorSchema
    )
    def post(self, instance_id: str) -> Any:
        """Import an exported history into an empty instance, checking its whole chain first."""
        if request.mimetype != "application/x-ndjson":
            raise UnsupportedMediaType("the body must be application/x-ndjson")
        exported = []
        for number, line in enumerate(request.get_data().splitlines(), start=1):
            if line.strip():
                try:
                    exported.append(load_json_body(line))
                except BadRequest:
                    raise BadRequest(f"line {number} is not valid JSON") from None
                except InvalidInput as refused:  # JSON, but not JSON the service can keep exactly
                    raise InvalidInput(f"line {number}: {refused.message}", refused.details) from None
        # The export names the instance it came from, which the copies record: the key must reach it too.
        check_instances(
            *{e["instance_id"] for e in exported if isinstance(e, dict) and isinstance(e.get("instance_id"), str)}
        )
        return history_service().copier.import_entries(instance_id, exported), 201


@blp.route(f"/<iid:instance_id>/history/<int(max={MAX_SEQ}):seq>")
class Entry(MethodView):
    """One entry."""

    @blp.response(200, EntrySchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str, seq: int) -> Any:
        """Return the entry at a seq."""
        return entry_response(history_service().reader.get_entry(instance_id, seq))


@blp.route("/<iid:instance_id>/head")
class Head(MethodView):
    """The newest entry."""

    @blp.response(200, EntrySchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Return the newest entry of an instance."""
        stored = history_service().reader.head(instance_id)
        return entry_response(stored, 200, {"ETag": f'"{stored.seq}"'})


@blp.route("/<iid:instance_id>/first")
class First(MethodView):
    """The oldest entry."""

    @blp.response(200, EntrySchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Return the oldest entry of an instance."""
        return entry_response(history_service().reader.first(instance_id))


@blp.route("/<iid:instance_id>/verify")
class Verify(MethodView):
    """The chain check."""

    @blp.response(200, VerifySchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Recompute every hash of an instance's chain and report the first bad seq."""
        result = history_service().verifier.verify(instance_id)
        return {"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq}
