"""The HTTP API under /api/v1: flask-smorest set-up and the blueprints."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from process_memory.api.parser import StrictJSONParser
from process_memory.api.schemas import ApiErrorSchema
from process_memory.errors import handle_http_exception
from process_memory.history.service import INSTANCE_ID_PATTERN, HistoryService

API_PREFIX = "/api/v1"


class InstanceIdConverter(BaseConverter):
    """Matches instance ids only, so a malformed id is a 404 like any unknown path."""

    regex = INSTANCE_ID_PATTERN


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
    return current_app.extensions["process_memory.history"]


def register_api(app: Flask) -> None:
    """Attach the OpenAPI machinery and every blueprint of the API."""
    from process_memory.api import compat, instances, search, state

    app.config.update(
        API_TITLE="process-memory",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/",
    )
    app.url_map.converters["iid"] = InstanceIdConverter
    api = ProcessMemoryApi(app)
    api.register_converter(InstanceIdConverter, lambda _: {"type": "string", "pattern": f"^{INSTANCE_ID_PATTERN}$"})
    api.register_blueprint(instances.blp, url_prefix=f"{API_PREFIX}/instances")
    api.register_blueprint(state.blp, url_prefix=f"{API_PREFIX}/instances")
    api.register_blueprint(search.blp, url_prefix=f"{API_PREFIX}/history")
    api.register_blueprint(compat.blp)
