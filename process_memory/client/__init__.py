"""The official Python client of process-memory: ``Client`` and the errors it raises (docs/client.md)."""

from __future__ import annotations

from process_memory.client.api import Client
from process_memory.client.errors import (
    ApiError,
    BadRequest,
    BadUrl,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ProcessMemoryError,
    Unauthorized,
    Unavailable,
)
from process_memory.client.state import Versioned
from process_memory.client.transport import RetryPolicy

__all__ = [
    "ApiError",
    "BadRequest",
    "BadUrl",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "ProcessMemoryError",
    "RetryPolicy",
    "Unauthorized",
    "Unavailable",
    "Versioned",
]
