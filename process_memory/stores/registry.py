"""StoreRegistry: named state stores, made on first use by a default factory (as in Litestar)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from process_memory.stores.base import StateStore


class StoreRegistry:
    """Hands out one store per name; unknown names get ``default_factory(name)``."""

    def __init__(
        self,
        stores: dict[str, StateStore] | None = None,
        default_factory: Callable[[str], StateStore] | None = None,
    ) -> None:
        self._stores = dict(stores or {})
        self._default_factory = default_factory
        self._lock = threading.Lock()

    def register(self, name: str, store: StateStore, allow_override: bool = False) -> None:
        """Name a store; replacing one needs ``allow_override``."""
        with self._lock:
            if name in self._stores and not allow_override:
                raise ValueError(f"a store named {name!r} is registered already")
            self._stores[name] = store

    def get(self, name: str) -> StateStore:
        """Return the store of this name, making it with the default factory the first time."""
        with self._lock:
            if name not in self._stores:
                if self._default_factory is None:
                    raise KeyError(name)
                self._stores[name] = self._default_factory(name)
            return self._stores[name]
