"""The original service's routes for writing memories and reading documents, as thin adapters.

Kept so that the platform's clients (docs/compatibility.md names them) work
unchanged: the ``fix_reprocess`` writes (``POST /{id}``, ``/commit``,
``/create``, ``/clone``), the Node-era document routes and the ``master``
branch's ``/memory`` routes. Each answers the shape the clients parse, with
the API's JSON errors. The current memory and the reprocessing queries are
in ``api/platform.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, current_app, jsonify, request
from flask.views import MethodView
from werkzeug.exceptions import BadRequest

from process_memory.api import ApiBlueprint, history_service, memory_service
from process_memory.api.access import caller_prefix
from process_memory.api.lineage_schemas import MAX_DOCUMENTS, HistoryCountSchema, memory_document_schema
from process_memory.api.parser import read_json_request
from process_memory.api.proofs import receipt_headers
from process_memory.api.schemas import ApiErrorSchema
from process_memory.exceptions import NotFound
from process_memory.history.queries import HistoryQuery, InstanceQuery

blp = ApiBlueprint(
    "compatibility",
    __name__,
    description="Routes of the original process-memory service, kept for its clients. New clients use /api/v1.",
)

#: The `master` branch's `/memory/{id}` listed the last 100 documents, newest first.
HISTORY_DOCUMENTS = 100

_COMPAT = {"deprecated": True}
_MEMORY_BODY = {"required": True, "content": {"application/json": {"schema": memory_document_schema()}}}
_STORED = "stored as one entry; `{instance_id, seq, id}`"


def _documents(instance_id: str, direction: Literal["forward", "backward"], limit: int) -> list[Any]:
    reader = history_service().reader
    page = reader.read_history(str(instance_id), HistoryQuery(direction=direction, limit=limit))
    return [reader.data_of(stored) for stored in page.items]


def _post_memory(instance_id: Any) -> Any:
    if not request.get_data(cache=True):
        raise BadRequest("there is no data in the request")
    where = memory_service().post(str(instance_id), read_json_request(request))
    return jsonify(where), 201, receipt_headers(where["instance_id"], where["seq"])


@blp.route("/<uuid:instance_id>", endpoint="create", methods=["POST"])
@blp.route("/<uuid:instance_id>/commit", endpoint="commit", methods=["POST"])
@blp.route("/<uuid:instance_id>/create", endpoint="create_memory", methods=["POST"])
@blp.route("/memory/<uuid:instance_id>/commit", endpoint="memory_commit", methods=["POST"])
@blp.doc(**_COMPAT, requestBody=_MEMORY_BODY)
@blp.response(201, description=_STORED)
@blp.alt_response(400, description="no body (the original answered 500)", schema=ApiErrorSchema)
@blp.alt_response(422, description="a part of the memory document has the wrong shape", schema=ApiErrorSchema)
def create(instance_id: Any) -> Any:
    """Store a memory document as one entry of the instance in the URL, and fold it into its current memory."""
    return _post_memory(instance_id)


@blp.route("/memory/<uuid:instance_id>", endpoint="memory")
class Memory(MethodView):
    """An instance's memory documents (the `master` branch's route)."""

    @blp.doc(**_COMPAT, requestBody=_MEMORY_BODY)
    @blp.response(201, description=_STORED)
    @blp.alt_response(400, description="no body", schema=ApiErrorSchema)
    def post(self, instance_id: Any) -> Any:
        """Store a memory document as one entry."""
        return _post_memory(instance_id)

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
        reader = history_service().reader
        return jsonify(reader.data_of(reader.head(str(instance_id))))


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
            query = InstanceQuery(after, MAX_DOCUMENTS, within=caller_prefix())
            page = history_service().reader.list_instances(query)
            ids += [summary.instance_id for summary in page.items]
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
            count = history_service().reader.get_instance(str(instance_id)).count
        except NotFound:
            count = 0
        database = current_app.config["SETTINGS"].docdb_database_name
        return jsonify(full_name=f"{database}.{instance_id}", aprox_doc_count=count)


@blp.route("/<uuid:instance_id>/first", endpoint="first_list")
class FirstList(MethodView):
    """The first memory document, in a list."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="a list holding the first memory document as posted, or an empty list")
    def get(self, instance_id: Any) -> Any:
        """Return `[first document]`, or `[]` (the Executor reads `[0]["event"]`)."""
        return jsonify(_documents(instance_id, "forward", 1))


@blp.route("/<uuid:instance_id>/event", endpoint="first_event")
class FirstEvent(MethodView):
    """The first memory document's event, in a list (the Node service's route)."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="a list holding the first document's event, or an empty list")
    def get(self, instance_id: Any) -> Any:
        """Return `[first document's event]`, or `[]`."""
        return jsonify([document.get("event") for document in _documents(instance_id, "forward", 1)])


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
    """Documents from either end of the history (the Node service's route)."""

    @blp.doc(**_COMPAT)
    @blp.arguments(HistoryCountSchema(), location="query")
    @blp.response(
        200, description="`?first=N`: the first N documents; `?last=N` the last N; neither: up to 1,000; oldest first"
    )
    def get(self, counts: dict[str, int], instance_id: Any) -> Any:
        """Return the first or last N documents, oldest first."""
        if "last" in counts:
            return jsonify(_documents(instance_id, "backward", counts["last"])[::-1])
        return jsonify(_documents(instance_id, "forward", counts.get("first", MAX_DOCUMENTS)))


@blp.route("/clone/<uuid:source>/<uuid:target>", endpoint="clone", methods=["POST"])
@blp.route("/<uuid:source>/<uuid:target>/clone", endpoint="node_clone", methods=["POST"])
@blp.doc(**_COMPAT)
@blp.response(201, description="the source's current memory is the target's first entry; `{instance_id, seq, id}`")
@blp.alt_response(404, description="the source has no memory", schema=ApiErrorSchema)
@blp.alt_response(409, description="the target already has other entries", schema=ApiErrorSchema)
def clone(source: Any, target: Any) -> Any:
    """Start the target with the source's current memory, `reproduction: {from, to}` in its event."""
    return jsonify(memory_service().clone(str(source), str(target))), 201


@blp.route("/reproduction/<uuid:source>/<uuid:target>", endpoint="reproduction")
class Reproduction(MethodView):
    """A copy of an instance, to reproduce its run (the `master` branch's route)."""

    @blp.doc(**_COMPAT)
    @blp.response(200, description="the id of the new instance's newest entry, as plain text")
    @blp.alt_response(404, description="unknown source instance", schema=ApiErrorSchema)
    @blp.alt_response(409, description="the target already has entries", schema=ApiErrorSchema)
    def post(self, source: Any, target: Any) -> Any:
        """Clone an instance's whole history into another."""
        history = history_service()
        history.copier.clone(str(source), str(target))
        return Response(history.reader.head(str(target)).id, status=200, mimetype="text/plain")
