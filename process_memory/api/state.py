"""Instance state: GET, PUT and DELETE one small JSON document per instance, with ETags."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema
from werkzeug.exceptions import RequestEntityTooLarge

from process_memory.api import ApiBlueprint
from process_memory.api.fields import Text
from process_memory.api.parser import read_json_request
from process_memory.api.schemas import ApiErrorSchema
from process_memory.services import services
from process_memory.state import StateService, StoredState

blp = ApiBlueprint("state", __name__, description="Instance state: small, mutable, with optimistic concurrency")

_ETAG = r'^(?:W/)?"([0-9a-f]{32})"$'
_ANY_JSON = {"content": {"application/json": {"schema": {"description": "any JSON value"}}}}


def state_service() -> StateService:
    """Return the app's StateService."""
    return services().state


class StateArgsSchema(Schema):
    """Query parameters of PUT."""

    class Meta:
        unknown = RAISE

    ttl = fields.Integer(
        validate=validate.Range(min=1, max=10 * 365 * 86400),
        metadata={"description": "seconds until the state expires"},
    )


class IfMatchSchema(Schema):
    """The If-Match precondition every write takes."""

    class Meta:
        unknown = EXCLUDE

    if_match = Text(
        data_key="If-Match",
        validate=validate.Regexp(r'^(?:\*|(?:W/)?"[0-9a-f]{32}")$'),
        metadata={"description": "the ETag the state must still have, or *"},
    )


class StateHeadersSchema(IfMatchSchema):
    """Preconditions of PUT."""

    if_none_match = Text(
        data_key="If-None-Match", validate=validate.Equal("*"), metadata={"description": "* : create only"}
    )


class DeleteHeadersSchema(IfMatchSchema):
    """Preconditions of DELETE: If-Match. If-None-Match is refused rather than ignored (and not documented)."""

    @validates_schema(pass_original=True)
    def refuse_if_none_match(self, _: dict[str, Any], original: Any, **__: Any) -> None:
        """If-None-Match would make a DELETE delete only a state that does not exist: say so, never ignore it."""
        if "If-None-Match" in original:
            raise ValidationError("not taken on DELETE; use If-Match", "If-None-Match")


def _version(etag: str | None) -> str | None:
    if etag is None or etag == "*":
        return etag
    match = re.match(_ETAG, etag)
    return match.group(1) if match else None


def _state_response(state: StoredState, status: int) -> Response:
    return Response(state.json, status=status, mimetype="application/json", headers={"ETag": f'"{state.version}"'})


@blp.before_request
def limit_state_bodies() -> None:
    """Refuse a state body over PROCESS_MEMORY_STATE_MAX_BYTES before reading it."""
    limit = current_app.config["SETTINGS"].state_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"a state is at most {limit} bytes")
    request.max_content_length = limit  # bodies without a length stop being read there


@blp.route("/<iid:instance_id>/state")
class InstanceState(MethodView):
    """An instance's state."""

    @blp.response(200, description="the state, with its ETag", example={"step": 3})
    @blp.alt_response(404, description="no state", schema=ApiErrorSchema)
    def get(self, instance_id: str) -> Any:
        """Return an instance's state."""
        return _state_response(state_service().get_state(instance_id), 200)

    @blp.arguments(StateArgsSchema(), location="query")
    @blp.arguments(StateHeadersSchema(), location="headers")
    @blp.doc(requestBody={"required": True, **_ANY_JSON})
    @blp.response(200, description="replaced; the new ETag")
    @blp.alt_response(201, description="created; the new ETag")
    @blp.alt_response(
        412, description="If-Match is stale, or If-None-Match: * and a state exists", schema=ApiErrorSchema
    )
    @blp.alt_response(413, description="over PROCESS_MEMORY_STATE_MAX_BYTES", schema=ApiErrorSchema)
    def put(self, args: dict[str, Any], headers: dict[str, Any], instance_id: str) -> Any:
        """Replace an instance's state."""
        state, created = state_service().put_state(
            instance_id,
            read_json_request(request),
            if_match=_version(headers.get("if_match")),
            create_only="if_none_match" in headers,
            ttl=args.get("ttl"),
        )
        return _state_response(state, 201 if created else 200)

    @blp.arguments(DeleteHeadersSchema(), location="headers")
    @blp.response(204, description="deleted")
    @blp.alt_response(404, description="no state", schema=ApiErrorSchema)
    @blp.alt_response(412, description="If-Match is stale", schema=ApiErrorSchema)
    @blp.alt_response(422, description="If-None-Match, which DELETE does not take", schema=ApiErrorSchema)
    def delete(self, headers: dict[str, Any], instance_id: str) -> Any:
        """Delete an instance's state."""
        state_service().delete_state(instance_id, if_match=_version(headers.get("if_match")))
        return Response(status=204)
