"""Database plumbing shared by the history and state stores.

One client or engine per process (never shared across a gunicorn fork), the
SQLite settings a multi-process server needs, and one way to turn a driver's
connection errors into StoreUnavailable.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from process_memory.exceptions import StoreUnavailable
from process_memory.sqlite_writer import GroupCommit, SQLiteWriterLock
from process_memory.statements import DriverStatement, savepoint
from process_memory.store_failures import store_failure

#: How long a database may take to connect or answer, unless configured (Settings.database_timeout_ms).
DEFAULT_TIMEOUT_MS = 5000

#: How often a process tries to create the schema before its request fails (503).
SCHEMA_ATTEMPTS = 10

#: Held until the transaction ends; the writers of one key queue on it.
_ADVISORY_LOCK = DriverStatement(sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("lock_id", type_=sa.BigInteger))))

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def unavailable_on(*errors: type[BaseException]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn a driver's connection errors into StoreUnavailable (or its kind, store_failures.py), dropping their
    text (it may quote data)."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except errors as error:
                raise store_failure(error) from None

        return wrapper

    return decorate


class ProcessLocal(Generic[T]):
    """A client made on first use in each process, then prepared once there (the schema, say).

    Pooled connections must not cross a fork: a gunicorn worker makes its own
    client instead of using its parent's. A preparation that fails is tried
    again on the next use.
    """

    def __init__(self, create: Callable[[], T], prepare: Callable[[T], None] | None = None) -> None:
        self._create = create
        self._prepare = prepare
        self._lock = threading.Lock()
        self._client: T | None = None
        self._pid: int | None = None
        self._prepared = False

    def get(self) -> T:
        """Return this process's client, making and preparing it when needed."""
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    self._client = self._create()
                    self._pid = os.getpid()
                    self._prepared = False
        if not self._prepared:
            with self._lock:  # threads arriving together prepare once, not each
                if not self._prepared:
                    if self._prepare is not None:
                        self._prepare(self._client)
                    self._prepared = True
        return self._client

    def prepare_again(self) -> None:
        """Run the preparation now, even if it ran in this process before."""
        self._prepared = False
        self.get()

    def discard(self) -> T | None:
        """Forget the client and return it when this process made it (for the caller to close)."""
        client, mine = self._client, self._pid == os.getpid()
        self._client = None
        return client if mine else None


def _sqlite_setup(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the one writer; FULL makes every acknowledged commit durable;
        # a writer waits up to the busy timeout for another process's lock, then the client gets 503.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # first: switching to WAL may wait
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return configure


@dataclass
class HeldConnection:
    """The connection every query of one writer goes through while it holds its instance."""

    conn: Connection
    #: Whether each write gets a savepoint: in a SQLite group a failed write must not undo the other
    #: appends'; PostgreSQL's transaction holds one writer's writes only, so a failed write rolls it
    #: all back instead, which saves the savepoints' round trips.
    savepoints: bool
    #: Set when a write failed part-way (without savepoints): the transaction must not be committed.
    write_failed: bool = False


def _end_writer_transaction(conn: Connection, commit: bool) -> None:
    """Commit (or roll back) a writer's transaction and return its connection; a failed commit is a 503, and so
    is a connection the database dropped under the block (a failover, say): nothing it wrote was committed."""
    try:
        if conn.invalidated:
            raise StoreUnavailable()
        if commit:
            conn.commit()
        else:
            conn.rollback()
    except sa.exc.DBAPIError:
        raise StoreUnavailable() from None
    finally:
        conn.close()


class ProcessLocalEngine:
    """A SQLAlchemy engine made on first use in each process, its schema brought up to date once there."""

    def __init__(
        self,
        url: str,
        timeout_ms: int,
        metadata: sa.MetaData,
        schema: Callable[[Engine], None],
        prepared_statements: bool = True,
    ) -> None:
        self.url = make_url(url)
        #: Whether psycopg may prepare statements on the server: not through a transaction-mode pooler, whose
        #: next transaction may run on another server connection, where the statement does not exist.
        self._prepared_statements = prepared_statements
        self._timeout_ms = timeout_ms
        self.metadata = metadata
        #: Brings the database's tables up to date: the owner's Alembic revisions (process_memory/migrations).
        self._schema = schema
        self._engine = ProcessLocal(self._create, self._create_tables)
        self._writer: SQLiteWriterLock | None = None
        self._group: GroupCommit | None = None
        if self.dialect == "sqlite" and self.url.database and self.url.database != ":memory:":
            self._writer = SQLiteWriterLock.of(Path(self.url.database))
            self._group = GroupCommit(self._writer, lambda: self.get().connect())
        self._held: ContextVar[HeldConnection | None] = ContextVar(f"held {id(self)}", default=None)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    def get(self) -> Engine:
        """Return this process's engine, creating it and the schema when needed."""
        return self._engine.get()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading, back to the pool when the block ends."""
        held = self._held.get()
        if held is None:
            with self.get().connect() as conn:
                yield conn
            return
        yield held.conn  # reads inside the writer's transaction see its own writes

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends and rolled back when it raises.

        On a SQLite file it holds the writer lock and starts with ``BEGIN
        IMMEDIATE``, so the transaction owns the database from its first read.
        """
        held = self._held.get()
        if held is not None:
            if held.savepoints:
                with savepoint(held.conn):
                    yield held.conn
                return
            try:
                yield held.conn
            except BaseException:
                held.write_failed = True
                raise
            return
        engine = self.get()
        if self._writer is None:
            with engine.begin() as conn:
                yield conn
            return
        with self._writer.held(), engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    @contextlib.contextmanager
    def serialised(self, key: str) -> Iterator[None]:
        """Hold off this service's other writers of ``key`` until the block ends.

        Every query of the block goes through one connection, in one
        transaction, committed before this returns: whatever the block wrote is
        kept even when the block then raises (as a write that reached the
        database would be), unless the database itself failed. On a SQLite file
        the block takes its turn in the process's group transaction
        (sqlite_writer.py): one writer at all. On PostgreSQL the transaction
        holds an advisory lock on the key's hash, so a writer never waits for a
        second connection while it holds the lock.
        """
        if self._held.get() is not None:
            yield
            return
        if self._group is not None:
            with self._group.member() as conn:
                token = self._held.set(HeldConnection(conn, savepoints=True))
                try:
                    yield
                finally:
                    self._held.reset(token)
            return
        if self.dialect != "postgresql":
            yield
            return
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        try:
            conn = self.get().connect()
        except sa.exc.DBAPIError:
            raise StoreUnavailable() from None
        try:
            conn.begin()  # so that SQLAlchemy commits what the driver's cursor runs in it
            _ADVISORY_LOCK.rows(conn, {"lock_id": lock_id})  # held until the commit
        except sa.exc.DBAPIError:
            conn.close()
            raise StoreUnavailable() from None
        held = HeldConnection(conn, savepoints=False)
        token = self._held.set(held)
        try:
            yield
        finally:
            self._held.reset(token)
            _end_writer_transaction(conn, commit=not held.write_failed)

    def create_schema(self) -> None:
        """Create the tables and indexes when missing."""
        self._engine.prepare_again()

    def _create_tables(self, engine: Engine) -> None:
        # Workers starting together race to create the same tables (on SQLite the writer lock queues them;
        # PostgreSQL or another program may still refuse one): look again.
        for attempt in range(1, SCHEMA_ATTEMPTS + 1):
            try:
                with self._writer.held() if self._writer is not None else contextlib.nullcontext():
                    self._schema(engine)
                return
            except sa.exc.DBAPIError:
                if attempt == SCHEMA_ATTEMPTS:
                    raise
                time.sleep(0.02 * attempt)

    def _create(self) -> Engine:
        if self.dialect == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            # hide_parameters: an error's text (which a traceback may log) never carries the values bound.
            engine = sa.create_engine(self.url, connect_args={"timeout": self._timeout_ms / 1000}, hide_parameters=True)
            sa.event.listen(engine, "connect", _sqlite_setup(self._timeout_ms))
            return engine
        connect_args: dict[str, Any] = {"connect_timeout": max(1, self._timeout_ms // 1000)}
        if not self._prepared_statements:
            connect_args["prepare_threshold"] = None
        return sa.create_engine(self.url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True)

    def dispose(self) -> None:
        """Close this process's pooled connections."""
        engine = self._engine.discard()
        if engine is not None:
            engine.dispose()

    def describe(self) -> str:
        """Name the database without credentials."""
        if self.dialect == "sqlite":
            return f"SQLite file {Path(self.url.database or '').resolve()}"
        return f"PostgreSQL {self.url.host}:{self.url.port or 5432}/{self.url.database}"

    def upsert(self, table: sa.Table) -> Any:
        """Return the dialect's INSERT construct, which has ``on_conflict_do_update``."""
        from sqlalchemy.dialects import postgresql, sqlite

        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)


class KeyedLocks:
    """A lock per key, kept only while someone holds or waits for it; re-entrant, as a write inside a write of
    the same key may be (gevent's workers patch ``threading``: there the holder is a greenlet)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        #: Each key's lock and how many hold or wait for it.
        self._locks: dict[str, tuple[threading.RLock, list[int]]] = {}

    @contextlib.contextmanager
    def held(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lock until the block ends."""
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.RLock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._locks[key]
