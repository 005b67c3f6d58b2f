"""Domain errors of the history service; the HTTP layer maps each to a status."""

from __future__ import annotations

from typing import Any


class HistoryError(Exception):
    """Base of every error the history service raises on purpose."""

    code = "history_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidEntry(HistoryError):
    """The entry is well-formed JSON but cannot be stored as it is (422)."""

    code = "unprocessable_entity"  # the same code as the schemas' 422s


class NotFound(HistoryError):
    """No such instance or entry (404)."""

    code = "not_found"


class Conflict(HistoryError):
    """An entry with this id exists with other content (409)."""

    code = "conflict"


class PreconditionFailed(HistoryError):
    """The instance's head is not the one the client expected (412)."""

    code = "precondition_failed"


class StoreUnavailable(HistoryError):
    """The database could not be reached in time; the client may retry (503)."""

    code = "store_unavailable"

    def __init__(self, message: str = "the history database is unavailable", retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DuplicateEntry(Exception):
    """Raised by a store when an insert hits a taken ``seq`` or ``id`` of the instance."""
