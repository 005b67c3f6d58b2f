"""Writing to a SQLite file from many workers: one writer at a time, queued without polling, and group commit.

SQLite has one writer per file. Its busy handler waits for the lock by
sleeping in C, which under gevent stops every request of the worker, the
holder's included; and each commit costs an fsync. So this service's writers
queue here instead:

- ``SQLiteWriterLock`` is one writer at a time: a cooperative lock among a
  process's greenlets (or threads), then ``flock`` on a file beside the
  database among processes. The kernel hands ``flock`` over the moment it is
  released. Under gevent it is taken in the hub's thread pool, so the worker
  keeps serving while it waits.
- ``GroupCommit`` lets the appends queued in one process share a transaction:
  each runs in a savepoint of it, reading the head as the group sees it, and
  the last of the queue commits for all of them, one fsync. An append is
  acknowledged only after that commit.

Writers outside this service still meet SQLite's busy timeout.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from gevent import monkey
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from process_memory.exceptions import StoreUnavailable
from process_memory.store_failures import store_failure

#: The most appends one transaction carries: bounds how long the first of them waits for its commit.
MAX_GROUP = 64


class SQLiteWriterLock:
    """One writer at a time on a SQLite file: first among this process's threads, then among processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pid: int | None = None
        self._fd = -1
        self._local = threading.Lock()
        #: Set while this thread (or greenlet) holds the lock through held(), which is then re-entrant.
        self._holding: ContextVar[bool] = ContextVar(f"holding {path}", default=False)

    @classmethod
    def of(cls, database: Path) -> SQLiteWriterLock:
        """Return this process's one lock of the database file (history and state may share the file)."""
        key = database.resolve()
        with _LOCKS_GUARD:
            return _LOCKS.setdefault(key, cls(key.with_name(key.name + ".writer-lock")))

    def _for_this_process(self) -> None:
        if self._pid != os.getpid():  # a fork copies neither the holder nor the open file description
            self._local = threading.Lock()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()

    def acquire(self) -> None:
        """Wait for the lock; release() may then come from another thread or greenlet of the process."""
        self._for_this_process()
        self._local.acquire()
        try:
            if monkey.is_module_patched("threading"):
                try:  # the lock is often free: taking it at once saves the thread pool's hand-over
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    import gevent

                    gevent.get_hub().threadpool.apply(fcntl.flock, (self._fd, fcntl.LOCK_EX))
            else:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._local.release()
            raise

    def release(self) -> None:
        """Let the next writer in."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._local.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of the block (at once when this thread holds it already)."""
        if self._holding.get():
            yield
            return
        self.acquire()
        token = self._holding.set(True)
        try:
            yield
        finally:
            self._holding.reset(token)
            self.release()


_LOCKS: dict[Path, SQLiteWriterLock] = {}
_LOCKS_GUARD = threading.Lock()


class _Group:
    """One open write transaction and the appends that share it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.members = 0
        self.done = threading.Event()
        #: Why the commit failed, as the store failure every member answers with.
        self.failure: StoreUnavailable | None = None

    def wait(self) -> None:
        """Return once the group is committed; raise StoreUnavailable (or its kind) when it was not."""
        self.done.wait()
        if self.failure is not None:
            raise self.failure


class GroupCommit:
    """The appends of one process take turns in a shared transaction; the last of a queue commits it."""

    def __init__(self, lock: SQLiteWriterLock, connect: Callable[[], Connection]) -> None:
        self._lock = lock
        self._connect = connect
        self._pid: int | None = None
        self._turn = threading.Lock()
        self._counter = threading.Lock()
        self._queued = 0
        self._open: _Group | None = None

    def _for_this_process(self) -> None:
        if self._pid != os.getpid():
            self._turn, self._counter, self._queued, self._open = threading.Lock(), threading.Lock(), 0, None
            self._pid = os.getpid()

    @contextlib.contextmanager
    def member(self) -> Iterator[Connection]:
        """Take a turn in the open transaction (opening one when none is); yield its connection.

        Once the block ends without raising, this returns only after the
        transaction holding the block's writes is committed.
        """
        self._for_this_process()
        with self._counter:
            self._queued += 1
        try:
            self._turn.acquire()
        finally:
            with self._counter:
                self._queued -= 1
        group, succeeded = None, False
        try:
            group = self._join()
            yield group.conn
            succeeded = True
        finally:
            if group is not None:
                self._hand_on(group)
            self._turn.release()
        if group is not None and succeeded:
            group.wait()

    def _join(self) -> _Group:
        if self._open is None:
            try:
                conn = self._connect()  # first: a process's first connection creates the schema, under the lock
            except DBAPIError as error:
                raise store_failure(error) from None
            try:
                self._lock.acquire()
            except BaseException:
                conn.close()
                raise
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException as failure:
                conn.close()
                self._lock.release()
                if isinstance(failure, DBAPIError):  # another program's lock outlasted the busy timeout
                    raise store_failure(failure) from None
                raise
            self._open = _Group(conn)
        self._open.members += 1
        return self._open

    def _hand_on(self, group: _Group) -> None:
        """Leave the transaction open for the next append in the queue, or commit it when there is none."""
        with self._counter:
            others_waiting = self._queued > 0
        if others_waiting and group.members < MAX_GROUP:
            return
        self._open = None
        try:
            group.conn.commit()
        except DBAPIError as error:
            group.failure = store_failure(error)
            with contextlib.suppress(DBAPIError):
                group.conn.rollback()
        finally:
            group.conn.close()
            self._lock.release()
            group.done.set()
