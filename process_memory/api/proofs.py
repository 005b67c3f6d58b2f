"""Proofs of an instance's history: signed checkpoints of its Merkle tree, inclusion and consistency proofs, and
the verifier keys that check the checkpoints (docs/storage.md, "The Merkle tree")."""

from __future__ import annotations

import base64
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

from process_memory.api import ApiBlueprint, history_service
from process_memory.api.fields import Text
from process_memory.api.schemas import ApiErrorSchema
from process_memory.config import Settings
from process_memory.exceptions import Conflict, NotFound
from process_memory.formats import MAX_SEQ

blp = ApiBlueprint("proofs", __name__, description="Checkpoints and proofs of instances' Merkle trees")
keys_blp = ApiBlueprint("verifier_keys", __name__, description="The keys that check signed checkpoints")

_SIZE = validate.Range(min=1, max=MAX_SEQ)
_EVERY_ENTRY = {"description": "default: every entry"}
_HASH = {"description": "lowercase hex SHA-256"}
_ERRORS = {
    404: "unknown instance, or a size or seq outside its tree; for a checkpoint, also: no signing key is configured",
    409: "a hash of the tree was never stored (entries from before trees): run `history reindex`",
    422: "a malformed parameter",
}


class _Query(Schema):
    class Meta:
        unknown = RAISE


class CheckpointArgsSchema(_Query):
    """Which size to sign."""

    size = fields.Integer(validate=_SIZE, metadata=_EVERY_ENTRY)


class InclusionArgsSchema(_Query):
    """Which entry, in which tree."""

    seq = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_SEQ))
    size = fields.Integer(validate=_SIZE, metadata=_EVERY_ENTRY)


class ConsistencyArgsSchema(_Query):
    """From which size to which."""

    from_ = fields.Integer(required=True, data_key="from", validate=_SIZE)
    to = fields.Integer(validate=_SIZE, metadata=_EVERY_ENTRY)


class CheckpointSchema(Schema):
    """An instance's tree at one size, signed."""

    instance_id = Text()
    size = fields.Integer()
    root = Text(metadata=_HASH)
    head_hash = Text(metadata={"description": "the chain hash of the entry at size - 1"})
    note = Text(metadata={"description": "the checkpoint as a signed note (C2SP tlog-checkpoint)"})


class InclusionProofSchema(Schema):
    """The audit path of one entry, in tlog's order."""

    seq = fields.Integer()
    size = fields.Integer()
    leaf_hash = Text(metadata={"description": "SHA-256(0x00 ‖ the entry's hash as 32 bytes), lowercase hex"})
    proof = fields.List(Text(metadata=_HASH))


class ConsistencyProofSchema(Schema):
    """The proof that a later tree begins with an earlier one, in tlog's order."""

    from_ = fields.Integer(data_key="from")
    to = fields.Integer()
    proof = fields.List(Text(metadata=_HASH))


class VerifierKeysSchema(Schema):
    """The keys that check this service's checkpoints, and the origin their logs are named under."""

    origin = Text()
    keys = fields.List(Text(), metadata={"description": "note verifier keys (name+hash+key)"})


def _settings() -> Settings:
    settings: Settings = current_app.config["SETTINGS"]
    return settings


#: The preference (RFC 7240 ``Prefer``) under which an append answers with its receipt.
RECEIPT_PREFERENCE = "receipt"
#: The response header that carries a receipt: the signed note of the checkpoint, base64 (it spans lines).
RECEIPT_HEADER = "Receipt"


def _prefers_receipt() -> bool:
    """Whether the request's ``Prefer`` headers name the receipt preference (``Prefer: receipt``)."""
    preferences = ",".join(request.headers.getlist("Prefer"))
    return any(
        item.split(";")[0].split("=")[0].strip().lower() == RECEIPT_PREFERENCE for item in preferences.split(",")
    )


def receipt_headers(instance_id: str, last_seq: int) -> dict[str, str]:
    """Return the receipt of an append that asked for one: the checkpoint of the instance's tree up to and including
    ``last_seq``, signed, as a header. Nothing when no signing key is configured or the instance's tree is incomplete
    (entries from before trees): the entries are stored already, and a receipt is only ever a preference."""
    settings = _settings()
    if settings.signing_key is None or not _prefers_receipt():
        return {}
    try:
        signed = history_service().prover.checkpoint(
            instance_id, settings.signing_key, settings.log_origin, last_seq + 1
        )
    except Conflict:
        return {}
    return {RECEIPT_HEADER: base64.b64encode(signed.note.encode()).decode(), "Preference-Applied": RECEIPT_PREFERENCE}


def _alt_responses(view: Any) -> Any:
    for status, description in _ERRORS.items():
        view = blp.alt_response(status, description=description, schema=ApiErrorSchema)(view)
    return view


@blp.route("/<iid:instance_id>/checkpoint")
class InstanceCheckpoint(MethodView):
    """A signed checkpoint of the instance's tree."""

    @blp.arguments(CheckpointArgsSchema(), location="query")
    @blp.response(200, CheckpointSchema)
    @_alt_responses
    def get(self, query: dict[str, Any], instance_id: str) -> Any:
        """Sign the instance's tree at a size (default: every entry) as a checkpoint."""
        settings = _settings()
        if settings.signing_key is None:
            # Not a 5xx: nothing failed, this service signs no checkpoints (nor publishes a key).
            raise NotFound("this service signs no checkpoints: no PROCESS_MEMORY_SIGNING_KEY_FILE", None)
        signed = history_service().prover.checkpoint(
            instance_id, settings.signing_key, settings.log_origin, query.get("size")
        )
        return vars(signed)


@blp.route("/<iid:instance_id>/proof/inclusion")
class InclusionProof(MethodView):
    """That an entry is in the instance's tree."""

    @blp.arguments(InclusionArgsSchema(), location="query")
    @blp.response(200, InclusionProofSchema)
    @_alt_responses
    def get(self, query: dict[str, Any], instance_id: str) -> Any:
        """Prove that the entry at a seq is in the tree of a size (default: every entry)."""
        return history_service().prover.inclusion_proof(instance_id, query["seq"], query.get("size"))


@blp.route("/<iid:instance_id>/proof/consistency")
class ConsistencyProof(MethodView):
    """That a later tree of the instance begins with an earlier one."""

    @blp.arguments(ConsistencyArgsSchema(), location="query")
    @blp.response(200, ConsistencyProofSchema)
    @_alt_responses
    def get(self, query: dict[str, Any], instance_id: str) -> Any:
        """Prove that the tree of `to` entries (default: every entry) begins with the tree of `from` entries."""
        return history_service().prover.consistency_proof(instance_id, query["from_"], query.get("to"))


@keys_blp.route("")
class VerifierKeys(MethodView):
    """The verifier keys of checkpoints."""

    @keys_blp.doc(security=[])  # public keys: no key of this service is needed to read them
    @keys_blp.response(200, VerifierKeysSchema)
    def get(self) -> Any:
        """List the keys that check this service's checkpoints: the signing key's first, then earlier keys'."""
        settings = _settings()
        current = [settings.signing_key.verifier_key] if settings.signing_key is not None else []
        return {"origin": settings.log_origin, "keys": list(dict.fromkeys([*current, *settings.verifier_keys]))}
