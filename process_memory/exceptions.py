"""What the services and stores raise on purpose; http_errors.py turns each into a status and a JSON body."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    code = "service_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(ServiceError):
    """The input is well-formed JSON but cannot be stored as it is (422)."""

    code = "unprocessable_entity"  # the same code as the schemas' 422s


class NotFound(ServiceError):
    """No such instance, entry or state (404)."""

    code = "not_found"


class Conflict(ServiceError):
    """An entry with this id exists with other content (409)."""

    code = "conflict"


class PreconditionFailed(ServiceError):
    """The current version or head is not the one the client named (412)."""

    code = "precondition_failed"


class CorruptEntry(ServiceError):
    """An entry's stored data cannot be read back (500); ``verify`` names such an entry."""

    code = "corrupt_entry"


class StoreUnavailable(Exception):
    """A database could not be reached (or was locked) in time; the client may retry (503)."""

    code = "store_unavailable"
    status = 503

    def __init__(self, message: str = "the database is unavailable", retry_after: int = 5) -> None:
        super().__init__(message)
        self.message = message
        self.details = None
        self.retry_after = retry_after


class StoreFull(StoreUnavailable):
    """The store has no room left (a full disk or quota); nothing was written (507)."""

    code = "insufficient_storage"
    status = 507

    def __init__(self, message: str = "the store has no room left: nothing was written", retry_after: int = 60) -> None:
        super().__init__(message, retry_after)


class StoreCorrupt(StoreUnavailable):
    """What the store holds cannot be read back as stored: a damaged file or database (503).

    Retrying will not help until an operator repairs it. ``whole_store``: the database itself is damaged, and
    /readyz says so from then on; otherwise one value is, and writing it anew repairs it.
    """

    code = "store_corrupt"

    def __init__(
        self,
        message: str = "the store's data is damaged and cannot be read",
        retry_after: int = 60,
        whole_store: bool = True,
    ) -> None:
        super().__init__(message, retry_after)
        self.whole_store = whole_store


class TooManyWaiting(Exception):
    """This worker holds as many live-tail readers as it may; the client may retry soon (503)."""

    code = "too_many_waiting"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class DuplicateEntry(Exception):
    """Raised by a history store when an insert hits a taken ``seq`` or ``id`` of the instance.

    ``inserted`` counts the leading entries of an ordered batch that were stored before the clash.
    """

    def __init__(self, inserted: int = 0) -> None:
        super().__init__(f"{inserted} inserted before a duplicate")
        self.inserted = inserted
