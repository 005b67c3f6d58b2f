"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Messages are written here or by the service, never copied from a driver: a
database error can quote the document it refused, and payloads must not leak.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, Response, g, has_app_context, has_request_context, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from process_memory.exceptions import (
    Conflict,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServiceError,
    StoreCorrupt,
    StoreUnavailable,
    TooManyWaiting,
)
from process_memory.observability import record_store_error
from process_memory.services import services
from process_memory.store_failures import DRIVER_ERRORS, store_failure

log = logging.getLogger(__name__)


_STATUS_BY_ERROR: dict[type[ServiceError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
}


def error_response(
    status: int,
    message: str,
    details: Any = None,
    code: str | None = None,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
) -> Response:
    """Build the JSON error response every failure uses."""
    if code is None:
        code = HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_")
    if has_request_context():
        g.error_code = code  # the request's log line names the outcome
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    pairs = headers.items() if isinstance(headers, dict) else headers or []
    for name, value in pairs:
        response.headers.add(name, value)
    return response


def handle_http_exception(error: HTTPException) -> Response:
    """Render Werkzeug's and webargs' HTTP errors in the API's shape."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    details: dict[str, Any] | None = None
    if "messages" in data:
        # webargs nests messages by location (json, query, headers): one flat map names the fields.
        details = {}
        for messages in data["messages"].values():
            details.update(messages if isinstance(messages, dict) else {"_": messages})
    message = "invalid request" if status == 422 else (error.description or HTTP_STATUS_CODES.get(status, "error"))
    # What a client acts on: the allowed methods (405) and the auth challenges (401).
    headers = [(name, value) for name, value in error.get_headers() if name in ("Allow", "WWW-Authenticate")]
    headers.extend((data.get("headers") or {}).items())
    return error_response(status, message, details, headers=headers)


def handle_service_error(error: ServiceError) -> Response:
    """Render a domain error with its status."""
    status = next((s for cls, s in _STATUS_BY_ERROR.items() if isinstance(error, cls)), 500)
    return error_response(status, error.message, error.details, code=error.code)


def handle_store_unavailable(error: StoreUnavailable) -> Response:
    """Answer 503 (507 for a full store) with the time after which a retry makes sense."""
    record_store_error()
    if isinstance(error, StoreCorrupt) and error.whole_store and has_app_context():
        # A damaged database does not mend itself: /readyz says so from now on, until an operator restores
        # it and restarts the service.
        log.error("the history store's data is damaged: answering 503 and not ready until restarted")
        services().damaged_store = True
    return error_response(error.status, error.message, code=error.code, headers={"Retry-After": str(error.retry_after)})


def handle_driver_error(error: Exception) -> Response:
    """Answer a driver's error raised where no store expected one as the store failure it stands for.

    Logged by type only: a driver's message may quote the data it refused.
    """
    failure = store_failure(error)
    log.warning("store failure %s answered as %s", type(error).__name__, failure.code)
    return handle_store_unavailable(failure)


def handle_too_many_waiting(error: TooManyWaiting) -> Response:
    """Answer 503: the worker's live-tail readers are at their bound."""
    return error_response(503, error.message, code=error.code, headers={"Retry-After": str(error.retry_after)})


def handle_unexpected_error(error: Exception) -> Response:
    """Answer 500 and log where it happened, without the exception's message (it may quote data)."""
    frames = "".join(traceback.format_list(traceback.extract_tb(error.__traceback__)))
    log.error("unexpected %s\n%s", type(error).__name__, frames)
    return error_response(500, "internal error")


def register_error_handlers(app: Flask) -> None:
    """Attach the handlers; flask-smorest's Api routes HTTPException here too."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(StoreUnavailable, handle_store_unavailable)
    for driver_error in DRIVER_ERRORS:
        app.register_error_handler(driver_error, handle_driver_error)
    app.register_error_handler(TooManyWaiting, handle_too_many_waiting)
    app.register_error_handler(Exception, handle_unexpected_error)
