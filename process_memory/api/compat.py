"""Compatibility routes of the original process-memory service, as thin adapters over the same services.

Kept so that services written against the original keep working. Each route
answers the shape the original's clients parse; where the original's status
was odd (417 for an empty body, 200 for an unknown instance with a null body,
500 on anything unexpected) it now answers a proper status with the API's
JSON error. docs/compatibility.md lists every difference.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, current_app, jsonify, request
from flask.views import MethodView
from werkzeug.exceptions import BadRequest

from process_memory.api import ApiBlueprint, history_service
from process_memory.api.parser import read_json_request
from process_memory.api.schemas import ApiErrorSchema
from process_memory.exceptions import InvalidInput, NotFound
from process_memory.history.entry import NewEntry
from process_memory.history.store import HistoryQuery, InstanceQuery

blp = ApiBlueprint(
    "compatibility",
    __name__,
    description="Routes of the original process-memory service, kept for its clients. New clients use /api/v1.",
)

#: Header fields of a memory document, copied into the entry's metadata so they can be read without the data.
MEMORY_HEADER_FIELDS = ("processId", "systemId", "instanceId", "eventOut", "commit", "version")
#: The original capped `/first/<n>` at this many documents.
MAX_DOCUMENTS = 1000
#: The original's `/history` listed the last 100 documents, newest first.
HISTORY_DOCUMENTS = 100

_COMPAT = {"deprecated": True}


def _documents(instance_id: str, direction: Literal["forward", "backward"], limit: int) -> list[Any]:
    page = history_service().read_history(str(instance_id), HistoryQuery(direction=direction, limit=limit))
    return [item["data"] for item in page.items]


@blp.route("/memory/<uuid:instance_id>", endpoint="memory")
@blp.route("/memory/<uuid:instance_id>/commit", endpoint="memory_commit")
class Memory(MethodView):
    """An instance's memory documents."""

    @blp.doc(
        **_COMPAT,
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "a memory document: event, map, dataset, fork and header fields",
                    }
                }
            },
        },
    )
    @blp.response(201, description="stored as one entry; `{instance_id, seq, id}`")
    @blp.alt_response(400, description="no body (the original answered 417)", schema=ApiErrorSchema)
    def post(self, instance_id: Any) -> Any:
        """Store a memory document (event, map, dataset, fork and header fields) as one entry."""
        if not request.get_data(cache=True):
            raise BadRequest("there is no data in the request")
        document = read_json_request(request)
        if not isinstance(document, dict):
            raise InvalidInput("a memory document is a JSON object", {"body": ["a JSON object"]})
        event = document.get("event")
        name = event.get("name") if isinstance(event, dict) else None
        entry, _ = history_service().append_entry(
            str(instance_id),
            NewEntry(
                type=name if isinstance(name, str) and 0 < len(name) <= 256 else "memory",
                data=document,
                metadata={field: document[field] for field in MEMORY_HEADER_FIELDS if field in document},
            ),
        )
        return jsonify(instance_id=entry["instance_id"], seq=entry["seq"], id=entry["id"]), 201

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the memory documents, newest first (at most 100)")
    def get(self, instance_id: Any) -> Any:
        """List an instance's memory documents, newest first."""
        return jsonify(_documents(instance_id, "backward", HISTORY_DOCUMENTS))


@blp.route("/memory/<uuid:instance_id>/head")
class MemoryHead(MethodView):
    """The newest memory document."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the memory document exactly as it was posted")
    @blp.alt_response(404, description="no memory yet", schema=ApiErrorSchema)
    def get(self, instance_id: Any) -> Any:
        """Return the newest memory document, as posted."""
        return jsonify(history_service().head(str(instance_id))["data"])


@blp.route("/instances", endpoint="instance_ids")
class InstanceIds(MethodView):
    """Every instance id."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="a JSON list of instance ids")
    def get(self) -> Any:
        """List every instance id (read from the instance summaries, page by page)."""
        ids: list[str] = []
        after = None
        while True:
            page = history_service().list_instances(InstanceQuery(after, MAX_DOCUMENTS))
            ids += [item["instance_id"] for item in page.items]
            if page.next is None:
                return jsonify(ids)
            after = page.next


@blp.route("/instances/<uuid:instance_id>", endpoint="instance_info")
class InstanceInfo(MethodView):
    """What the original told about an instance's collection."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="`{full_name, aprox_doc_count}`; an unknown instance counts 0")
    def get(self, instance_id: Any) -> Any:
        """Return the instance's name and entry count, in the original's shape."""
        try:
            count = history_service().get_instance(str(instance_id))["count"]
        except NotFound:
            count = 0
        database = current_app.config["SETTINGS"].docdb_database_name
        return jsonify(full_name=f"{database}.{instance_id}", aprox_doc_count=count)


@blp.route("/<uuid:instance_id>/head", endpoint="head_list")
class HeadList(MethodView):
    """The newest document, in a list."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="a list holding the newest document, or an empty list")
    def get(self, instance_id: Any) -> Any:
        """Return `[newest document]`, or `[]`."""
        return jsonify(_documents(instance_id, "backward", 1))


@blp.route("/<uuid:instance_id>/first", endpoint="first_list")
class FirstList(MethodView):
    """The oldest document, in a list."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="a list holding the oldest document, or an empty list")
    def get(self, instance_id: Any) -> Any:
        """Return `[oldest document]`, or `[]`."""
        return jsonify(_documents(instance_id, "forward", 1))


@blp.route("/<uuid:instance_id>/first/<int:count>", endpoint="first_n")
class FirstN(MethodView):
    """The oldest documents."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the oldest documents, oldest first, at most 1,000")
    def get(self, instance_id: Any, count: int) -> Any:
        """Return the first `n` documents, oldest first (n is capped at 1,000)."""
        return jsonify(_documents(instance_id, "forward", max(1, min(count, MAX_DOCUMENTS))))


@blp.route("/<uuid:instance_id>/history", endpoint="history_list")
class HistoryList(MethodView):
    """The latest documents."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the last 100 documents, newest first")
    def get(self, instance_id: Any) -> Any:
        """Return the last 100 documents, newest first."""
        return jsonify(_documents(instance_id, "backward", HISTORY_DOCUMENTS))


@blp.route("/reproduction/<uuid:source>/<uuid:target>", endpoint="reproduction")
class Reproduction(MethodView):
    """A copy of an instance, to reproduce its run."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the id of the new instance's newest entry, as plain text")
    @blp.alt_response(404, description="unknown source instance", schema=ApiErrorSchema)
    @blp.alt_response(409, description="the target already has entries", schema=ApiErrorSchema)
    def post(self, source: Any, target: Any) -> Any:
        """Clone an instance's whole history into another."""
        history_service().clone(str(source), str(target))
        return Response(history_service().head(str(target))["id"], status=200, mimetype="text/plain")
