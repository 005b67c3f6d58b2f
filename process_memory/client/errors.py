"""The client's exceptions: one per kind of answer, each carrying the API's error code, message and details."""

from __future__ import annotations

from typing import Any

import httpx


class ProcessMemoryError(Exception):
    """Base of every error the client raises."""


class ApiError(ProcessMemoryError):
    """The service answered with an error: ``status``, and the API's ``code``, ``message`` and ``details``."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class BadRequest(ApiError):
    """400 or 422: the request was malformed or cannot be stored as it is."""


class Unauthorized(ApiError):
    """401: no key, or not a valid one."""


class Forbidden(ApiError):
    """403: the key lacks the scope, or does not reach the instance."""


class NotFound(ApiError):
    """404: no such instance, entry, state or tree size."""


class Conflict(ApiError):
    """409: an id exists with other content, or the target is not empty."""


class PreconditionFailed(ApiError):
    """412: the head or version is not the one named (If-Match)."""


class Unavailable(ApiError):
    """429, 502, 503 or 504 after every retry: the service or its database could not take the request."""


class ConnectionFailed(ProcessMemoryError):
    """The service could not be reached, or did not answer in time, after every retry."""


class BadUrl(ProcessMemoryError, ValueError):
    """The service's URL cannot be used: no scheme or host, or the API's own path (``/api/v1``) at its end."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: BadRequest,
    429: Unavailable,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def error_of(response: httpx.Response) -> ApiError:
    """The typed error an error answer stands for, from its JSON body when it has the API's shape."""
    try:
        error = response.json()["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.reason_phrase or "error", None
    return _BY_STATUS.get(response.status_code, ApiError)(response.status_code, code, message, details)
