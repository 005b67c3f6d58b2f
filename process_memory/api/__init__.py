"""The HTTP API under /api/v1: flask-smorest set-up and the blueprints."""

from __future__ import annotations

import dataclasses
import select
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, request, url_for
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, ValidationError

from process_memory.api.access import caller_prefix
from process_memory.api.parser import StrictJSONParser
from process_memory.api.schemas import ApiErrorSchema
from process_memory.formats import INSTANCE_ID_PATTERN, INSTANCE_ID_RULE, is_instance_id
from process_memory.http_errors import handle_http_exception
from process_memory.paging import Page
from process_memory.services import services

if TYPE_CHECKING:  # the return types of the accessors below
    from process_memory.history.service import HistoryService
    from process_memory.memory.queries import LineageService
    from process_memory.memory.service import MemoryService

API_PREFIX = "/api/v1"


class InstanceIdConverter(BaseConverter):
    """Matches instance ids only, so a malformed id is a 404 like any unknown path."""

    regex = INSTANCE_ID_PATTERN

    def to_python(self, value: str) -> str:
        """Refuse ids made only of dots (the rule does not match: 404)."""
        if not is_instance_id(value):
            raise ValidationError()
        return value


class ProcessMemoryApi(Api):
    """flask-smorest's Api with the service's own error shape."""

    ERROR_SCHEMA = ApiErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        """Render HTTP errors as ``{"error": {...}}``."""
        return handle_http_exception(error)


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint that parses bodies strictly."""

    ARGUMENTS_PARSER = StrictJSONParser()


def history_service() -> HistoryService:
    """Return the app's HistoryService."""
    return services().history


def memory_service() -> MemoryService:
    """Return the app's MemoryService."""
    return services().memory


def lineage_service() -> LineageService:
    """Return the app's LineageService."""
    return services().lineage


def client_connected() -> Callable[[], bool]:
    """Return a check of whether the request's client is still connected (True when the server cannot tell)."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        return lambda: True

    def connected() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            # Readable with nothing to read is the client's end-of-stream: it has gone.
            return not readable or sock.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):
            return False

    return connected


_Query = TypeVar("_Query")


def within_key(query: _Query) -> _Query:
    """Return a query across instances narrowed to the prefix the request's key is limited to (if any)."""
    return dataclasses.replace(query, within=caller_prefix())  # type: ignore[type-var]


def next_link(cursor_name: str, cursor: Any) -> dict[str, str]:
    """Return a Link header for the next page: the same query with the cursor moved (none on the last page)."""
    if cursor is None:
        return {}
    # Every value of a repeated parameter (?table=a&table=b) is kept: the next page asks the same question.
    values: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(flat=False), cursor_name: cursor}
    url = url_for(request.endpoint or "", **values)
    return {"Link": f'<{url}>; rel="next"'}


def paged(page: Page[Any], cursor_name: str) -> tuple[Page[Any], int, dict[str, str]]:
    """Answer a page: its items and ``next`` in the body, and the next page's URL in a Link header."""
    return page, 200, next_link(cursor_name, page.next)


def register_proof_blueprints(api: ProcessMemoryApi) -> None:
    """Mount the proofs of instances' trees, their verifier keys, and the service log."""
    from process_memory.api import proofs, service_log

    api.register_blueprint(proofs.blp, url_prefix=f"{API_PREFIX}/instances")
    api.register_blueprint(proofs.keys_blp, url_prefix=f"{API_PREFIX}/keys")
    api.register_blueprint(service_log.blp, url_prefix=API_PREFIX)
    api.register_blueprint(service_log.instance_blp, url_prefix=f"{API_PREFIX}/instances")


def register_api(app: Flask) -> None:
    """Attach the OpenAPI machinery and every blueprint of the API."""
    from process_memory.api import compat, instances, lineage, platform, redactions, search, state

    app.config.update(
        API_TITLE="process-memory",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Served from the swagger-ui-bundle package (ui/__init__.py): no CDN, so air-gapped deployments have it.
        OPENAPI_SWAGGER_UI_URL="/api/v1/docs/assets/",
        # Every operation takes an API key, as a Bearer token or as Basic's password (docs/security.md).
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "bearerKey": {"type": "http", "scheme": "bearer"},
                    "basicKey": {
                        "type": "http",
                        "scheme": "basic",
                        "description": "any user name; the key as password",
                    },
                }
            },
            "security": [{"bearerKey": []}, {"basicKey": []}],
        },
    )
    app.url_map.converters["iid"] = InstanceIdConverter
    api = ProcessMemoryApi(app)
    api.register_converter(InstanceIdConverter, lambda _: {"type": "string", "pattern": INSTANCE_ID_RULE})
    api.register_blueprint(instances.blp, url_prefix=f"{API_PREFIX}/instances")
    api.register_blueprint(state.blp, url_prefix=f"{API_PREFIX}/instances")
    api.register_blueprint(search.blp, url_prefix=f"{API_PREFIX}/history")
    api.register_blueprint(lineage.memory_blp, url_prefix=f"{API_PREFIX}/instances")
    api.register_blueprint(lineage.blp, url_prefix=f"{API_PREFIX}/lineage")
    api.register_blueprint(redactions.blp, url_prefix=f"{API_PREFIX}/instances")
    register_proof_blueprints(api)
    api.register_blueprint(compat.blp)
    api.register_blueprint(platform.blp)
