"""Instances and their history: append, read, page, verify."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.views import MethodView

from process_memory.api import ApiBlueprint, history_service
from process_memory.api.schemas import (
    AppendHeadersSchema,
    EntrySchema,
    ApiErrorSchema,
    HistoryArgsSchema,
    HistoryPageSchema,
    InstanceListArgsSchema,
    InstancePageSchema,
    MAX_SEQ,
    InstanceSchema,
    NewEntrySchema,
    VerifySchema,
)
from process_memory.history.service import NewEntry, format_timestamp
from process_memory.history.store import HistoryQuery

blp = ApiBlueprint("instances", __name__, description="App instances and their immutable history")

_NOT_FOUND = {"description": "unknown instance or entry", "schema": ApiErrorSchema}


def _next_link(cursor_name: str, cursor: Any) -> dict[str, str]:
    """Return a Link header for the next page: the same query with the cursor moved."""
    if cursor is None:
        return {}
    args = request.args.to_dict()
    args[cursor_name] = cursor
    url = url_for(request.endpoint or "", **(request.view_args or {}), **args)
    return {"Link": f'<{url}>; rel="next"'}


@blp.route("")
class Instances(MethodView):
    """The known instances."""

    @blp.arguments(InstanceListArgsSchema, location="query")
    @blp.response(200, InstancePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List instance summaries by id, a page at a time."""
        items, cursor = history_service().list_instances(args.get("after"), args["limit"])
        return {"items": items, "next": cursor}, 200, _next_link("after", cursor)


@blp.route("/<iid:instance_id>")
class Instance(MethodView):
    """One instance."""

    @blp.response(200, InstanceSchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Return an instance's summary."""
        return history_service().get_instance(instance_id)


@blp.route("/<iid:instance_id>/history")
class History(MethodView):
    """An instance's history."""

    @blp.arguments(NewEntrySchema)
    @blp.arguments(AppendHeadersSchema, location="headers")
    @blp.response(201, EntrySchema, description="appended")
    @blp.alt_response(200, schema=EntrySchema, description="the same id and content again: a safe retry")
    @blp.alt_response(409, description="the same id with other content", schema=ApiErrorSchema)
    @blp.alt_response(412, description="If-Match is not the current head", schema=ApiErrorSchema)
    def post(self, new: NewEntry, expected_head: int | None, instance_id: str) -> Any:
        """Append an entry."""
        entry, created = history_service().append_entry(instance_id, new, expected_head)
        location = url_for("instances.Entry", instance_id=instance_id, seq=entry["seq"])
        return entry, 201 if created else 200, {"Location": location, "ETag": f'"{entry["seq"]}"'}

    @blp.arguments(HistoryArgsSchema, location="query")
    @blp.response(200, HistoryPageSchema)
    def get(self, args: dict[str, Any], instance_id: str) -> Any:
        """Read a page of history, forwards or backwards."""
        since, until = args.get("since"), args.get("until")
        query = HistoryQuery(
            direction=args["direction"],
            after=args.get("after"),
            before=args.get("before"),
            limit=args["limit"],
            type=args.get("type"),
            since=format_timestamp(since) if since else None,
            until=format_timestamp(until) if until else None,
        )
        items, cursor = history_service().read_history(instance_id, query)
        cursor_name = "after" if query.direction == "forward" else "before"
        return {"items": items, "next": cursor}, 200, _next_link(cursor_name, cursor)


@blp.route(f"/<iid:instance_id>/history/<int(max={MAX_SEQ}):seq>")
class Entry(MethodView):
    """One entry."""

    @blp.response(200, EntrySchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str, seq: int) -> Any:
        """Return the entry at a seq."""
        return history_service().get_entry(instance_id, seq)


@blp.route("/<iid:instance_id>/head")
class Head(MethodView):
    """The newest entry."""

    @blp.response(200, EntrySchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Return the newest entry of an instance."""
        entry = history_service().head(instance_id)
        return entry, 200, {"ETag": f'"{entry["seq"]}"'}


@blp.route("/<iid:instance_id>/first")
class First(MethodView):
    """The oldest entry."""

    @blp.response(200, EntrySchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Return the oldest entry of an instance."""
        return history_service().first(instance_id)


@blp.route("/<iid:instance_id>/verify")
class Verify(MethodView):
    """The chain check."""

    @blp.response(200, VerifySchema)
    @blp.alt_response(404, **_NOT_FOUND)
    def get(self, instance_id: str) -> Any:
        """Recompute every hash of an instance's chain and report the first bad seq."""
        result = history_service().verify(instance_id)
        return {"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq}
