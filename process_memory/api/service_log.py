"""The service log: its latest cosigned checkpoint, each instance's anchor in it, its consistency proofs, and the
log itself as C2SP tlog-tiles (docs/proofs.md, "The service log")."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

from process_memory.anchoring.anchors import AnchorReader
from process_memory.anchoring.checkpoints import CheckpointBook, ServiceCheckpoint
from process_memory.anchoring.log import ServiceLog
from process_memory.api import ApiBlueprint, history_service
from process_memory.api.fields import Text
from process_memory.api.schemas import ApiErrorSchema
from process_memory.config import Settings
from process_memory.exceptions import NotFound
from process_memory.formats import MAX_SEQ
from process_memory.proofs.tiles import TileError, parse_tile_path

blp = ApiBlueprint("service_log", __name__, description="The service log: every instance's tree, witnessed")
instance_blp = ApiBlueprint("anchors", __name__, description="An instance's anchor in the service log")

_SIZE = validate.Range(min=1, max=MAX_SEQ)
#: A full tile never changes; a partial tile and the checkpoint change with every round.
_IMMUTABLE = "max-age=31536000, immutable"
_FRESH = "max-age=1"


def _cache_control(lifetime: str) -> str:
    """Shared caches may keep the log only when reading it needs no key: its leaves name every instance."""
    settings: Settings = current_app.config["SETTINGS"]
    return f"{'private' if settings.requires_keys else 'public'}, {lifetime}"


class _Query(Schema):
    class Meta:
        unknown = RAISE


class AnchorArgsSchema(_Query):
    """Which tree of the instance."""

    size = fields.Integer(validate=_SIZE, metadata={"description": "default: every entry"})


class LogConsistencyArgsSchema(_Query):
    """From which size of the service log to which."""

    from_ = fields.Integer(required=True, data_key="from", validate=_SIZE)
    to = fields.Integer(validate=_SIZE, metadata={"description": "default: the published size"})


class ServiceCheckpointSchema(Schema):
    """The service log at one size, signed by the service and cosigned by its witnesses."""

    size = fields.Integer()
    root = Text(metadata={"description": "lowercase hex SHA-256"})
    note = Text(metadata={"description": "the checkpoint (C2SP tlog-checkpoint) with its cosignatures"})
    cosigners = fields.List(Text(), metadata={"description": "the witnesses whose cosignature it carries"})
    signed_at = Text()
    witnessed = fields.Boolean(metadata={"description": "false: no witness is configured, the service vouches alone"})


class InstanceAnchorSchema(Schema):
    """That the instance's tree at a size is anchored in a published service checkpoint."""

    instance_id = Text()
    size = fields.Integer()
    anchored_size = fields.Integer(metadata={"description": "the size of the instance's tree the leaf holds"})
    leaf_index = fields.Integer()
    leaf = Text(metadata={"description": "the leaf: the instance's checkpoint text at anchored_size"})
    inclusion = fields.List(Text(), metadata={"description": "the leaf's proof into the service checkpoint"})
    consistency = fields.List(Text(), metadata={"description": "the instance's proof from size to anchored_size"})
    checkpoint = fields.Nested(ServiceCheckpointSchema)


class LogConsistencySchema(Schema):
    """That the service log's later tree begins with its earlier one."""

    from_ = fields.Integer(data_key="from")
    to = fields.Integer()
    proof = fields.List(Text())


def _reader() -> AnchorReader:
    service = history_service()
    return AnchorReader(ServiceLog(service.store.rows), CheckpointBook(service.store.rows), service.prover)


def _shown(checkpoint: ServiceCheckpoint) -> dict[str, Any]:
    settings: Settings = current_app.config["SETTINGS"]
    return {**vars(checkpoint), "root": checkpoint.root.hex(), "witnessed": bool(settings.witnesses)}


@blp.route("/checkpoint")
class Checkpoint(MethodView):
    """The latest service checkpoint."""

    @blp.response(200, ServiceCheckpointSchema)
    @blp.alt_response(404, description="none has reached its quorum yet", schema=ApiErrorSchema)
    def get(self) -> Any:
        """Read the latest service checkpoint that reached the witnesses' quorum."""
        return _shown(_reader().published())


@blp.route("/log/proof/consistency")
class LogConsistency(MethodView):
    """That the service log only grew."""

    @blp.arguments(LogConsistencyArgsSchema(), location="query")
    @blp.response(200, LogConsistencySchema)
    @blp.alt_response(404, description="a size the service log has not published", schema=ApiErrorSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Prove that the service log's tree of `to` leaves begins with its tree of `from` leaves."""
        old, new, proof = _reader().consistency(query["from_"], query.get("to"))
        return {"from_": old, "to": new, "proof": proof}


@blp.get("/log/checkpoint")
@blp.doc(summary="Read the latest published service checkpoint as a note (C2SP tlog-tiles)")
def log_checkpoint() -> Response:
    """The latest published checkpoint as text, for tile clients."""
    response = Response(_reader().published().note, mimetype="text/plain")
    response.headers["Cache-Control"] = _cache_control(_FRESH)
    return response


@blp.get("/log/tile/<path:path>")
@blp.doc(summary="Read a tile of the service log (C2SP tlog-tiles)")
def log_tile(path: str) -> Response:
    """A hash tile or an entry bundle of the published tree."""
    try:
        data, full = _reader().tile(parse_tile_path(path))
    except TileError as error:
        raise NotFound(str(error), {"path": "a tile of the published tree"}) from None
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Cache-Control"] = _cache_control(_IMMUTABLE if full else _FRESH)
    return response


@instance_blp.route("/<iid:instance_id>/anchor")
class Anchor(MethodView):
    """The instance's anchor."""

    @instance_blp.arguments(AnchorArgsSchema(), location="query")
    @instance_blp.response(200, InstanceAnchorSchema)
    @instance_blp.alt_response(404, description="unknown instance or size, or not anchored yet", schema=ApiErrorSchema)
    def get(self, query: dict[str, Any], instance_id: str) -> Any:
        """Prove that the instance's tree at a size (default: every entry) is in a cosigned service checkpoint."""
        anchor = _reader().anchor(instance_id, query.get("size"))
        return {**vars(anchor), "checkpoint": _shown(anchor.checkpoint)}
