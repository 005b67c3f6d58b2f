"""What a broken store looks like, whichever driver raised it: the one place that says which errors mean the
store failed (not the request), and which answer each gets: 503, 503 for damaged data, or 507 for a full disk.

Stores raise :class:`~process_memory.exceptions.StoreUnavailable` (or its kinds) where they expect a failure;
an error a driver raises anywhere else is classified here by ``http_errors``, so that no broken database,
file or server ever becomes a 500. Only the error's type is kept: a driver's text may quote stored data.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import TypeVar

import redis.exceptions
import sqlalchemy.exc
from pymongo.errors import PyMongoError

from process_memory.exceptions import StoreCorrupt, StoreFull, StoreUnavailable

T = TypeVar("T")
#: SQLite's result codes (sqlite3.h) for a damaged file, and for a full disk.
_SQLITE_CORRUPT, _SQLITE_NOTADB, _SQLITE_FULL = 11, 26, 13
#: OS errors that mean no room is left.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: PostgreSQL's SQLSTATEs: disk full (53100), data corrupted (XX001) and index corrupted (XX002).
_PG_FULL, _PG_CORRUPT = {"53100"}, {"XX001", "XX002"}

#: The driver errors that mean a store failed; http_errors answers each through :func:`store_failure`.
DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlalchemy.exc.DBAPIError, PyMongoError, redis.exceptions.RedisError)


def store_failure(error: BaseException) -> StoreUnavailable:
    """Return the StoreUnavailable kind a driver's or the file system's error stands for."""
    if isinstance(error, StoreUnavailable):
        return error
    cause = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
    sqlite_code = getattr(cause, "sqlite_errorcode", None)
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(cause, OSError) and cause.errno in _NO_ROOM:
        return StoreFull()
    if sqlite_code is not None and sqlite_code & 0xFF == _SQLITE_FULL or sqlstate in _PG_FULL:
        return StoreFull()
    if sqlite_code is not None and sqlite_code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or sqlstate in _PG_CORRUPT:
        return StoreCorrupt()
    return StoreUnavailable()


def failing_as_store_errors(items: Iterator[T]) -> Iterator[T]:
    """Yield from ``items``; a driver's error on the way is raised as the store failure it stands for (its text,
    which may quote data, dropped): for a stream whose answer has started, where no error handler runs."""
    try:
        yield from items
    except DRIVER_ERRORS as error:
        raise store_failure(error) from None
