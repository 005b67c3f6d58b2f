"""The StateStore interface: a small key/value store with expiry, namespaces and compare-and-set.

Modelled on Litestar's stores (same method names, synchronous), plus what they
lack: ``get_versioned`` and ``set(..., if_version=...)`` so that concurrent
writers on any backend never lose an update.
"""

from __future__ import annotations

import math
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import timedelta

#: Seconds as a number or a timedelta.
Seconds = int | float | timedelta

#: Keys are any NUL-free text of at most this many UTF-8 bytes (it fits every backend's index).
MAX_KEY_BYTES = 1024
#: The SQL state store's table, unless configured (PROCESS_MEMORY_STATE_SQL_TABLE).
DEFAULT_STATE_TABLE = "process_memory_state"
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")


class VersionConflict(Exception):
    """A conditional write or delete lost: the value changed, exists, or is gone."""


class StateStore(ABC):
    """A key/value store of bytes with expiry, namespaces and compare-and-set.

    Every backend is safe across threads; file, SQL and Redis also across
    processes (and SQL and Redis across hosts). ``clock`` returns seconds since
    the epoch and exists so tests can move time instead of sleeping.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def get(self, key: str, renew_for: Seconds | None = None) -> bytes | None:
        """Return the value, or None when missing or expired.

        With ``renew_for``, a value that has an expiry gets a new one, ``renew_for`` from now.
        """
        return self._get(check_key(key), None if renew_for is None else as_seconds(renew_for))

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """Return the value and its version (for ``set(..., if_version=...)``), or None."""
        return self._get_versioned(check_key(key))

    def set(
        self,
        key: str,
        value: str | bytes,
        expires_in: Seconds | None = None,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
    ) -> str:
        """Store ``value`` (str is UTF-8 encoded) and return its new version.

        ``if_version``: only if the current version is this one. ``if_absent``:
        only if there is no live value. Either failing raises VersionConflict.
        """
        if if_version is not None and if_absent:
            raise ValueError("if_version and if_absent exclude each other")
        ttl = None if expires_in is None else as_seconds(expires_in)
        return self._set(check_key(key), as_bytes(value), ttl, if_version, if_absent)

    def delete(self, key: str, *, if_version: str | None = None) -> bool:
        """Delete the value; return whether there was one. A stale ``if_version`` raises VersionConflict."""
        return self._delete(check_key(key), if_version)

    def expires_in(self, key: str) -> int | None:
        """Return the whole seconds (rounded up) until the value expires; None without expiry or value."""
        return self._expires_in(check_key(key))

    def exists(self, key: str) -> bool:
        """Return whether a live value is stored under ``key``."""
        return self.get_versioned(key) is not None

    def with_namespace(self, name: str) -> StateStore:
        """Return a view of this store confined to the child namespace ``name``."""
        return self._child(check_namespace(name))

    @abstractmethod
    def delete_all(self) -> None:
        """Delete every value of this namespace and of its child namespaces, and nothing else."""

    @abstractmethod
    def delete_expired(self) -> int:
        """Delete the expired values of this namespace and its children; return how many (if known)."""

    def ping(self) -> None:
        """Raise StoreUnavailable (or its kind) unless the store answers; /readyz calls it."""
        self.exists("readyz")

    def close(self) -> None:
        """Release connections or handles; the default has none."""

    # What a backend implements; arguments arrive checked and converted.

    @abstractmethod
    def _get(self, key: str, renew: float | None) -> bytes | None: ...

    @abstractmethod
    def _get_versioned(self, key: str) -> tuple[bytes, str] | None: ...

    @abstractmethod
    def _set(self, key: str, value: bytes, ttl: float | None, if_version: str | None, if_absent: bool) -> str: ...

    @abstractmethod
    def _delete(self, key: str, if_version: str | None) -> bool: ...

    @abstractmethod
    def _expires_in(self, key: str) -> int | None: ...

    @abstractmethod
    def _child(self, name: str) -> StateStore: ...


def check_key(key: str) -> str:
    """Return ``key`` when it is usable on every backend, else raise ValueError."""
    # The usual key, a short str: no UTF-8 character takes more than 4 bytes, so it cannot be too long.
    if type(key) is str and 0 < len(key) <= MAX_KEY_BYTES // 4 and "\0" not in key:
        return key
    if not isinstance(key, str) or not key:
        raise ValueError("a key is a non-empty string")
    if "\0" in key:
        raise ValueError("a key cannot contain NUL")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"a key is at most {MAX_KEY_BYTES} bytes of UTF-8")
    return key


def check_namespace(name: str) -> str:
    """Return a namespace name when it is 1-64 of ``A-Z a-z 0-9 . _ -`` not starting with a dot."""
    if not isinstance(name, str) or not _NAMESPACE_RE.fullmatch(name):
        raise ValueError("a namespace name is 1-64 characters of A-Z a-z 0-9 . _ - not starting with '.'")
    return name


def as_bytes(value: str | bytes) -> bytes:
    """Return the bytes to store."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError("a value is bytes or str")


def as_seconds(value: Seconds | None) -> float | None:
    """Return a duration in seconds, refusing zero or negative ones."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError("an expiry is a positive, finite number of seconds")
    return seconds


def check_condition(key: str, current_version: str | None, if_version: str | None, if_absent: bool = False) -> None:
    """Raise VersionConflict unless a conditional write may go ahead.

    ``current_version`` is the live value's version (None: no live value). For
    the backends that check under a lock of their own; SQL and Redis put the
    same condition into the one statement or script that writes.
    """
    if if_absent and current_version is not None:
        raise VersionConflict(key)
    if if_version is not None and current_version != if_version:
        raise VersionConflict(key)


def remaining_seconds(deadline: float | None, now: float) -> int | None:
    """Return the whole seconds left before ``deadline``, rounded up."""
    return None if deadline is None else max(0, math.ceil(deadline - now))


def new_version() -> str:
    """Return a fresh version: random, so a deleted and re-created value never reuses one.

    32 hex digits, as a UUID's hex was: the API's ETags have that form. A version needs to be
    unique, not secret, so 128 bits of the random module do (uuid4 cost ten times as much, the most of
    a memory set). The random module reseeds itself in a forked child: workers never share a sequence.
    """
    return random.randbytes(16).hex()
