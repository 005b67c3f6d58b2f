"""MemoryStore: state in this process's memory; thread-safe, optionally bounded (LRU)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from process_memory.stores.base import StateStore, check_condition, new_version, remaining_seconds


@dataclass(slots=True)
class _Item:
    value: bytes
    version: str
    deadline: float | None


class _Shared:
    """What every namespace view of one MemoryStore shares: the items, the lock, the bound."""

    def __init__(self, max_entries: int | None) -> None:
        self.items: OrderedDict[tuple[tuple[str, ...], str], _Item] = OrderedDict()
        self.lock = threading.Lock()
        self.max_entries = max_entries


class MemoryStore(StateStore):
    """Values in a dict guarded by a lock; with ``max_entries``, the least recently used go first.

    Per process: several gunicorn workers each see their own store.
    """

    def __init__(
        self,
        max_entries: int | None = None,
        clock: Callable[[], float] = time.time,
        *,
        _shared: _Shared | None = None,
        _namespace: tuple[str, ...] = (),
    ) -> None:
        super().__init__(clock)
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries is at least 1")
        self._shared = _shared or _Shared(max_entries)
        self._namespace = _namespace

    def _live(self, key: str) -> _Item | None:
        """Return the live item under the lock, dropping it when expired."""
        slot = (self._namespace, key)
        item = self._shared.items.get(slot)
        if item is None:
            return None
        if item.deadline is not None and item.deadline <= self.clock():
            del self._shared.items[slot]
            return None
        if self._shared.max_entries is not None:  # the order is the LRU's, kept only when bounded
            self._shared.items.move_to_end(slot)
        return item

    def _get(self, key: str, renew: float | None) -> bytes | None:
        # _live's rule, written out: the store's most frequent call, where a call more is a tenth of its time.
        slot, shared = (self._namespace, key), self._shared
        with shared.lock:
            item = shared.items.get(slot)
            if item is None:
                return None
            if item.deadline is not None:
                now = self.clock()
                if item.deadline <= now:
                    del shared.items[slot]
                    return None
                if renew is not None:
                    item.deadline = now + renew
            if shared.max_entries is not None:
                shared.items.move_to_end(slot)
            return item.value

    def _get_versioned(self, key: str) -> tuple[bytes, str] | None:
        with self._shared.lock:
            item = self._live(key)
            return (item.value, item.version) if item else None

    def _set(self, key: str, data: bytes, ttl: float | None, if_version: str | None, if_absent: bool) -> str:
        # The condition is checked under the same lock as the write.
        shared, slot = self._shared, (self._namespace, key)
        with shared.lock:
            if if_version is not None or if_absent:
                current = self._live(key)
                check_condition(key, current.version if current else None, if_version, if_absent)
            version = new_version()
            shared.items[slot] = _Item(data, version, None if ttl is None else self.clock() + ttl)
            if shared.max_entries is not None:
                shared.items.move_to_end(slot)
                while len(shared.items) > shared.max_entries:
                    shared.items.popitem(last=False)
            return version

    def _delete(self, key: str, if_version: str | None) -> bool:
        with self._shared.lock:
            current = self._live(key)
            check_condition(key, current.version if current else None, if_version)
            if current is None:
                return False
            del self._shared.items[(self._namespace, key)]
            return True

    def _mine(self, namespace: tuple[str, ...]) -> bool:
        return namespace[: len(self._namespace)] == self._namespace

    def delete_all(self) -> None:
        """Delete this namespace's values and its children's."""
        with self._shared.lock:
            for slot in [slot for slot in self._shared.items if self._mine(slot[0])]:
                del self._shared.items[slot]

    def _expires_in(self, key: str) -> int | None:
        with self._shared.lock:
            item = self._live(key)
            return remaining_seconds(item.deadline, self.clock()) if item else None

    def delete_expired(self) -> int:
        """Drop expired values of this namespace and its children."""
        now = self.clock()
        with self._shared.lock:
            expired = [
                slot
                for slot, item in self._shared.items.items()
                if self._mine(slot[0]) and item.deadline is not None and item.deadline <= now
            ]
            for slot in expired:
                del self._shared.items[slot]
            return len(expired)

    def _child(self, name: str) -> MemoryStore:
        # A child shares this store's items and bound.
        return MemoryStore(clock=self.clock, _shared=self._shared, _namespace=(*self._namespace, name))
