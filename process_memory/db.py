"""Database plumbing shared by the history and state stores.

One SQLAlchemy engine per process (never shared across a gunicorn fork), the
SQLite settings a multi-process server needs, and one way to turn a driver's
connection errors into StoreUnavailable.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

P = ParamSpec("P")
R = TypeVar("R")


class StoreUnavailable(Exception):
    """A database could not be reached (or was locked) in time; the client may retry (503)."""

    code = "store_unavailable"

    def __init__(self, message: str = "the database is unavailable", retry_after: int = 5) -> None:
        super().__init__(message)
        self.message = message
        self.details = None
        self.retry_after = retry_after


def unavailable_on(*errors: type[BaseException]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn a driver's connection errors into StoreUnavailable, dropping their text (it may quote data)."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except errors:
                raise StoreUnavailable() from None

        return wrapper

    return decorate


def _sqlite_setup(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the one writer; FULL makes every acknowledged commit durable;
        # a writer waits up to the busy timeout for another process's lock, then the client gets 503.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return configure


class ProcessLocalEngine:
    """A SQLAlchemy engine created on first use in each process, and its schema created once there."""

    def __init__(self, url: str, timeout_ms: int, metadata: sa.MetaData) -> None:
        self.url = make_url(url)
        self._timeout_ms = timeout_ms
        self.metadata = metadata
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._schema_ready = False

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    def get(self) -> Engine:
        """Return this process's engine, creating it and the schema when needed."""
        # Pooled connections must not cross a fork: a child makes its own engine.
        if self._engine is None or self._pid != os.getpid():
            with self._lock:
                if self._engine is None or self._pid != os.getpid():
                    self._engine = self._create()
                    self._pid = os.getpid()
                    self._schema_ready = False
        if not self._schema_ready:
            self.create_schema(self._engine)
        return self._engine

    def create_schema(self, engine: Engine | None = None) -> None:
        """Create the tables and indexes when missing."""
        engine = engine or self.get()
        try:
            self.metadata.create_all(engine)
        except sa.exc.DBAPIError:
            # Another worker created the same tables a moment earlier: check again.
            self.metadata.create_all(engine)
        self._schema_ready = True

    def _create(self) -> Engine:
        if self.dialect == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(self.url, connect_args={"timeout": self._timeout_ms / 1000})
            sa.event.listen(engine, "connect", _sqlite_setup(self._timeout_ms))
            return engine
        return sa.create_engine(
            self.url, pool_pre_ping=True, connect_args={"connect_timeout": max(1, self._timeout_ms // 1000)}
        )

    def dispose(self) -> None:
        """Close this process's pooled connections."""
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None

    def describe(self) -> str:
        """Name the database without credentials."""
        if self.dialect == "sqlite":
            return f"SQLite file {Path(self.url.database or '').resolve()}"
        return f"PostgreSQL {self.url.host}:{self.url.port or 5432}/{self.url.database}"

    def upsert(self, table: sa.Table) -> Any:
        """Return the dialect's INSERT construct, which has ``on_conflict_do_update``."""
        from sqlalchemy.dialects import postgresql, sqlite

        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)
