"""FileStore: state in files under one directory; safe across the processes of one host.

Improves on Litestar's FileStore in two ways: every write is fsynced (file and
directory) before it is acknowledged and write errors are raised, where
Litestar's neither fsyncs nor reports them; and an expired file is removed only
under the key's lock after checking that it is still the expired value, never a
value another process just wrote.

A file the store cannot read back (a damaged header) is reported, never guessed at: reading it is a 503
naming the damage, and an unconditional write or delete replaces it. The file system's own failures are
the store's: a full disk is StoreFull (507), a read-only or unreadable directory StoreUnavailable (503).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from process_memory.db import unavailable_on
from process_memory.exceptions import StoreCorrupt
from process_memory.stores.base import StateStore, check_condition, new_version, remaining_seconds

#: Temporary files older than this were left by a writer that died; the sweep removes them.
STALE_TEMP_SECONDS = 3600
_TEMP_PREFIX = ".tmp-"
_READ_BYTES = 64 * 1024


#: Where the store's files are damaged, their version is this, which no written version can be (they are hex).
DAMAGED = "damaged"
_unavailable_on_os_error = unavailable_on(OSError)


@dataclass(frozen=True)
class _Record:
    value: bytes
    version: str
    deadline: float | None

    @property
    def damaged(self) -> bool:
        return self.version == DAMAGED


# Paths are str and files are read with os calls: pathlib and buffered files cost more than the reading.


def _read(path: str) -> _Record | None:
    # A file is one JSON header line, then the value's bytes.
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, _READ_BYTES):
            chunks.append(chunk)
    finally:
        os.close(fd)
    header, _, value = b"".join(chunks).partition(b"\n")
    try:
        meta = json.loads(header.decode())
        version, deadline = meta["version"], meta["deadline"]
        if not isinstance(version, str) or not (deadline is None or isinstance(deadline, int | float)):
            raise ValueError("not a header")
    except (ValueError, TypeError, KeyError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return _Record(b"", DAMAGED, None)
    return _Record(value, version, deadline)


def _write(path: str, record: _Record) -> None:
    """Write atomically: a temporary file, fsync, rename over the old one, fsync the directory."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    header = json.dumps({"version": record.version, "deadline": record.deadline}).encode() + b"\n"
    fd, temp = tempfile.mkstemp(dir=directory, prefix=_TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(header)
            file.write(record.value)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStore(StateStore):
    """One file per value, named by the SHA-256 of its key (no key can escape the directory)."""

    def __init__(
        self, path: str | Path, clock: Callable[[], float] = time.time, *, _namespace: tuple[str, ...] = ()
    ) -> None:
        super().__init__(clock)
        self.root = Path(path)
        self._namespace = _namespace
        self._dir = self.root / "data"
        for name in _namespace:
            self._dir = self._dir / "ns" / name
        self._keys = f"{self._dir}/keys/"
        self._locks = f"{self.root}/locks/"

    def _path(self, key: str) -> str:
        return self._keys + hashlib.sha256(key.encode()).hexdigest()

    @contextmanager
    def _locked(self, path: str) -> Iterator[None]:
        # 256 lock stripes by file name: an exclusive flock serialises writers across processes.
        lock = f"{self._locks}{os.path.basename(path)[:2]}.lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            os.makedirs(self._locks, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _live(self, path: str) -> _Record | None:
        record = _read(path)
        if record is not None and record.damaged:
            raise StoreCorrupt(
                "this value's file is damaged and cannot be read: writing or deleting it without a condition "
                "replaces it",
                whole_store=False,
            )
        if record is None or record.deadline is None or record.deadline > self.clock():
            return record
        self._remove_if_expired(path, record.version)
        return None

    def _remove_if_expired(self, path: str, version: str) -> None:
        with self._locked(path):
            current = _read(path)
            if (
                current is not None
                and current.version == version
                and current.deadline is not None
                and current.deadline <= self.clock()
            ):
                _unlink(path)

    @_unavailable_on_os_error
    def _get(self, key: str, renew: float | None) -> bytes | None:
        path = self._path(key)
        record = self._live(path)
        if record is None or renew is None or record.deadline is None:
            return record.value if record else None
        with self._locked(path):
            record = self._live_locked(path)  # flock is per descriptor: never re-lock inside
            if record is not None and record.deadline is not None:
                _write(path, _Record(record.value, record.version, self.clock() + renew))
            return record.value if record else None

    @_unavailable_on_os_error
    def _get_versioned(self, key: str) -> tuple[bytes, str] | None:
        record = self._live(self._path(key))
        return (record.value, record.version) if record else None

    @_unavailable_on_os_error
    def _set(self, key: str, data: bytes, ttl: float | None, if_version: str | None, if_absent: bool) -> str:
        # The condition is checked, and the write made, under one lock.
        path = self._path(key)
        with self._locked(path):
            current = self._live_locked(path)
            check_condition(key, current.version if current else None, if_version, if_absent)
            version = new_version()
            _write(path, _Record(data, version, None if ttl is None else self.clock() + ttl))
            return version

    def _live_locked(self, path: str) -> _Record | None:
        record = _read(path)
        if record is not None and record.deadline is not None and record.deadline <= self.clock():
            return None
        return record

    @_unavailable_on_os_error
    def _delete(self, key: str, if_version: str | None) -> bool:
        path = self._path(key)
        with self._locked(path):
            current = self._live_locked(path)
            check_condition(key, current.version if current else None, if_version)
            _unlink(path)
            return current is not None

    @_unavailable_on_os_error
    def ping(self) -> None:
        """Write and remove a probe file where values are written: a read-only or full disk fails it."""
        probe = f"{self._keys}{_TEMP_PREFIX}readyz-{os.getpid()}"
        _write(probe, _Record(b"{}", new_version(), None))
        _unlink(probe)

    def delete_all(self) -> None:
        """Move this namespace's directory aside in one rename, then remove it."""
        trash = self.root / "trash" / uuid.uuid4().hex
        trash.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(self._dir, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash)

    @_unavailable_on_os_error
    def _expires_in(self, key: str) -> int | None:
        record = self._live(self._path(key))
        return remaining_seconds(record.deadline, self.clock()) if record else None

    def delete_expired(self) -> int:
        """Remove expired files, and temporary files of writers that died, in this namespace and below."""
        if not self._dir.exists():
            return 0
        removed, now = 0, self.clock()
        for path in self._dir.rglob("keys/*"):
            if path.name.startswith(_TEMP_PREFIX):
                try:
                    if path.stat().st_mtime < time.time() - STALE_TEMP_SECONDS:
                        path.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
                continue
            record = _read(str(path))
            if record is not None and record.deadline is not None and record.deadline <= now:
                self._remove_if_expired(str(path), record.version)
                removed += 0 if path.exists() else 1
        return removed

    def _child(self, name: str) -> FileStore:
        return FileStore(self.root, self.clock, _namespace=(*self._namespace, name))  # a subdirectory
