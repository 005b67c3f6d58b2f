"""Working memory: small key/value state stores with expiry, namespaces and compare-and-set.

Usable on its own::

    from process_memory.stores import FileStore, VersionConflict

    store = FileStore("/var/lib/myapp/state").with_namespace("jobs")
    version = store.set("job-7", b"step=3", expires_in=3600)
    value, version = store.get_versioned("job-7")
    store.set("job-7", b"step=4", if_version=version)   # VersionConflict if someone got there first

Backends: MemoryStore (one process), FileStore (one host), SQLStore (SQLite or
PostgreSQL) and RedisStore (many hosts); ``registry.STATE_STORES`` builds one by name.
docs/state.md compares them.
"""

from __future__ import annotations

from process_memory.stores.base import Seconds, StateStore, VersionConflict
from process_memory.stores.file import FileStore
from process_memory.stores.memory import MemoryStore
from process_memory.stores.sql import SQLStore

__all__ = [
    "FileStore",
    "MemoryStore",
    "RedisStore",
    "SQLStore",
    "Seconds",
    "StateStore",
    "VersionConflict",
]


def __getattr__(name: str) -> object:
    # redis-py is only imported by those who use Redis.
    if name == "RedisStore":
        from process_memory.stores.redis import RedisStore

        return RedisStore
    raise AttributeError(name)
