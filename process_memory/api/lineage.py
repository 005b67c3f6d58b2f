"""Lineage in /api/v1: an instance's current memory, who read what, and a process's events by reference date.

The same questions the original's routes answer (api/platform.py), with
cursors and the API's error shape. They read entries marked as memory
documents, whichever route wrote them (docs/api.md, "Lineage").
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields

from process_memory.api import ApiBlueprint, lineage_service, memory_service, paged, within_key
from process_memory.api.access import check_instances
from process_memory.api.lineage_schemas import (
    EventArgsSchema,
    ItemArgsSchema,
    ItemListSchema,
    LineageInstanceSchema,
    ReaderArgsSchema,
)
from process_memory.api.schemas import ApiErrorSchema, page_schema
from process_memory.memory.lineage_queries import EventQuery, ReaderQuery

memory_blp = ApiBlueprint("memory", __name__, description="An instance's current memory, folded from its history")
blp = ApiBlueprint("lineage", __name__, description="Which instances read what, and which to run again")

LineagePageSchema = page_schema("LineagePageSchema", LineageInstanceSchema, fields.String)


@memory_blp.route("/<iid:instance_id>/memory")
class Memory(MethodView):
    """The current memory of an instance."""

    @memory_blp.response(200, description="the original's `/{id}/head` shape, plus `inputs`")
    @memory_blp.alt_response(404, description="the instance has no memory with an event", schema=ApiErrorSchema)
    def get(self, instance_id: str) -> Any:
        """Return the current memory: the last event, the merged fork, the last maps and entities, every item."""
        memory = memory_service().head(instance_id)
        memory["inputs"] = memory_service().items([instance_id], "inputs")
        return memory


@blp.route("/readers")
class Readers(MethodView):
    """Instances that read from tables of a tag."""

    @blp.arguments(ReaderArgsSchema(), location="query")
    @blp.response(200, LineagePageSchema)
    def get(self, query: ReaderQuery) -> Any:
        """Instances of a tag that read these entities (or any) by query from these tables, by instance id."""
        return paged(lineage_service().readers_page(within_key(query)), "after")


@blp.route("/events")
class Events(MethodView):
    """A process's events by reference date."""

    @blp.arguments(EventArgsSchema(), location="query")
    @blp.response(200, LineagePageSchema)
    def get(self, query: EventQuery) -> Any:
        """A process's instances whose current event's reference date is in the window, by date."""
        return paged(lineage_service().events_page(within_key(query)), "after")


@blp.route("/items")
class Items(MethodView):
    """Instance filters or inputs of some instances."""

    @blp.arguments(ItemArgsSchema(), location="query")
    @blp.response(200, ItemListSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Return the items of these instances (of these types), as posted, each with its post's header."""
        check_instances(*query["instance"])
        return {"items": memory_service().items(query["instance"], query["kind"], query["type"])}
