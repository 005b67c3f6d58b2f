"""The original service's current-memory reads and reprocessing queries (its ``fix_reprocess`` branch).

Shapes are those platform_sdk's ``ProcessMemoryApi``, the Executor and
platform_reprocess parse: every 2xx body is JSON with the content type
``application/json`` exactly, and an answer the original gave as a 404 (no
memory, no instance found) is still a 404, which the clients read as "none".
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.views import MethodView

from process_memory.api import ApiBlueprint, lineage_service, memory_service
from process_memory.api.access import caller_prefix, check_instances
from process_memory.api.lineage_schemas import (
    ByEntitiesSchema,
    ByTagsSchema,
    DatesSchema,
    InstanceIdsSchema,
    InstancesAndTypesSchema,
)
from process_memory.api.schemas import ApiErrorSchema
from process_memory.exceptions import NotFound

blp = ApiBlueprint(
    "platform",
    __name__,
    description="The original service's current memory and reprocessing queries, kept for the platform's clients. "
    "New clients use /api/v1/instances/{id}/memory and /api/v1/lineage.",
)

_COMPAT = {"deprecated": True}
_NO_MEMORY = {"description": "the instance has no memory", "schema": ApiErrorSchema}
_NONE_FOUND = {"description": "no instance matches (the clients read it as none)", "schema": ApiErrorSchema}


def _found(answer: list[Any]) -> Any:
    """The original answered an empty result with 404, which its clients map to "none"."""
    if not answer:
        raise NotFound("no instance matches", None)
    return jsonify(answer)


@blp.route("/<uuid:instance_id>/head", endpoint="head")
class Head(MethodView):
    """The current memory."""

    @blp.doc(**_COMPAT)
    @blp.response(
        200,
        description="`{event, map{content, name}, dataset{entities}, fork, processId, systemId, "
        "instanceId, eventOut, commit, instance_filter}`",
    )
    @blp.alt_response(404, **_NO_MEMORY)
    def get(self, instance_id: Any) -> Any:
        """Return the current memory, merged from every post as the original merged them."""
        return jsonify(memory_service().head(str(instance_id)))


@blp.route("/event/<uuid:instance_id>", endpoint="event")
class Event(MethodView):
    """The current event."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the event with `header`, `reprocessing`, `reproduction`, `referenceDate`")
    @blp.alt_response(404, **_NO_MEMORY)
    def get(self, instance_id: Any) -> Any:
        """Return the current event, dates as `%Y-%m-%dT%H:%M:%S.%fZ` (header dates in ISO 8601)."""
        return jsonify(memory_service().event(str(instance_id)))


@blp.route("/payload/<uuid:instance_id>", endpoint="payload")
class Payload(MethodView):
    """The current event's payload."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the payload as posted")
    @blp.alt_response(404, **_NO_MEMORY)
    def get(self, instance_id: Any) -> Any:
        """Return the current event's payload."""
        return jsonify(memory_service().event(str(instance_id))["payload"])


@blp.route("/fork/<uuid:instance_id>", endpoint="fork")
class Fork(MethodView):
    """The fork, merged."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the fork's non-empty fields, merged across posts, with `header`; null: none")
    @blp.alt_response(404, **_NO_MEMORY)
    def get(self, instance_id: Any) -> Any:
        """Return the fork."""
        return jsonify(memory_service().current(str(instance_id)).loads("fork"))


@blp.route("/entities/<uuid:instance_id>", endpoint="entities")
class Entities(MethodView):
    """The current entities."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="`{type: [records]}` of the last post that carried entities")
    @blp.alt_response(404, **_NO_MEMORY)
    def get(self, instance_id: Any) -> Any:
        """Return the current entities."""
        return jsonify(memory_service().parts(str(instance_id))["entities"])


@blp.route("/maps/<uuid:instance_id>", endpoint="maps")
class Maps(MethodView):
    """The current maps."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="`{type: map}` of the last post that carried maps")
    @blp.alt_response(404, **_NO_MEMORY)
    def get(self, instance_id: Any) -> Any:
        """Return the current maps."""
        return jsonify(memory_service().parts(str(instance_id))["maps"])


@blp.route("/instance_filter/<uuid:instance_id>", endpoint="instance_filter")
class InstanceFilter(MethodView):
    """The instance filters."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="every `instance_filter` item posted, with the header of its post")
    @blp.alt_response(404, **_NO_MEMORY)
    def get(self, instance_id: Any) -> Any:
        """Return the instance filters."""
        memory_service().current(str(instance_id))
        return jsonify(memory_service().items([str(instance_id)], "instance_filter"))


@blp.route("/inputs/<string:type_name>/<uuid:instance_id>", endpoint="inputs")
class Inputs(MethodView):
    """The inputs of one type."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the `inputs` items whose `_metadata.type` is the type, with their headers")
    @blp.alt_response(404, **_NO_MEMORY)
    def get(self, type_name: str, instance_id: Any) -> Any:
        """Return the inputs of a type."""
        memory_service().current(str(instance_id))
        return jsonify(memory_service().items([str(instance_id)], "inputs", [type_name]))


@blp.route("/instances/reprocessable/byentities", endpoint="by_entities", methods=["POST"])
@blp.doc(**_COMPAT)
@blp.arguments(ByEntitiesSchema())
@blp.response(200, description="the instance ids to reprocess, latest reprocess substituted")
@blp.alt_response(404, **_NONE_FOUND)
def by_entities(body: dict[str, Any]) -> Any:
    """Instances that read any of these entities by query, from the tables listed for their tag."""
    lineage = lineage_service()
    return _found(lineage.reprocessable_by_entities(body["entities"], body["tables_grouped_by_tags"], caller_prefix()))


@blp.route("/instances/bytags", endpoint="by_tags", methods=["POST"])
@blp.doc(**_COMPAT)
@blp.arguments(ByTagsSchema())
@blp.response(200, description="`[{id, tag}]`, latest reprocess substituted")
@blp.alt_response(404, **_NONE_FOUND)
def by_tags(body: dict[str, Any]) -> Any:
    """Instances of these tags that queried the listed tables."""
    return _found(lineage_service().by_tags(body["tables_grouped_by_tags"], caller_prefix()))


@blp.route("/events/between/dates", endpoint="events_between", methods=["POST"])
@blp.doc(**_COMPAT)
@blp.arguments(DatesSchema())
@blp.response(200, description="instance ids of the process's execution events in the window, by reference date")
def events_between(body: dict[str, Any]) -> Any:
    """A process's instances by reference date (no substitution, as the original)."""
    window = (body["process_id"], body["date_begin_validity"], body["date_end_validity"])
    found = lineage_service().events_between(*window, caller_prefix())
    return jsonify(found)


@blp.route("/current/events/between/dates", endpoint="current_events_between", methods=["POST"])
@blp.doc(**_COMPAT)
@blp.arguments(DatesSchema())
@blp.response(200, description="`[{id, event}]`, latest reprocess substituted")
@blp.alt_response(404, **_NONE_FOUND)
def current_events_between(body: dict[str, Any]) -> Any:
    """A process's current instances by reference date: each original replaced by its latest reprocess."""
    window = (body["process_id"], body["date_begin_validity"], body["date_end_validity"])
    return _found(lineage_service().current_events_between(*window, caller_prefix()))


@blp.route("/instance_filters/byinstanceids", endpoint="filters_by_ids", methods=["POST"])
@blp.doc(**_COMPAT)
@blp.arguments(InstanceIdsSchema())
@blp.response(200, description="the instance filters of these instances")
def filters_by_ids(body: dict[str, Any]) -> Any:
    """Instance filters of several instances."""
    check_instances(*body["instance_ids"])
    return jsonify(memory_service().items(body["instance_ids"], "instance_filter"))


@blp.route("/instance_filters/byinstanceidsandtypes", endpoint="filters_by_ids_and_types", methods=["POST"])
@blp.doc(**_COMPAT)
@blp.arguments(InstancesAndTypesSchema())
@blp.response(200, description="the instance filters of each instance, of its listed types")
def filters_by_ids_and_types(body: dict[str, Any]) -> Any:
    """Instance filters of several instances, each of its own types."""
    check_instances(*body["instances_and_types"])
    found = []
    for instance_id, types in body["instances_and_types"].items():
        found += memory_service().items([instance_id], "instance_filter", types)
    return jsonify(found)
