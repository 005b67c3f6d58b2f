"""Backends by name, one registry per interface.

Configuration names a backend; its registry builds it. An unknown name is an error wherever one is asked for:
the app, the commands, the benchmarks and the tests all take their backends from here. Each backend's module is
imported only when it is built, so a deployment never loads the drivers of backends it does not use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from process_memory.config import ConfigError, Settings

if TYPE_CHECKING:
    from process_memory.history.store import HistoryStore
    from process_memory.stores.base import StateStore

_Built = TypeVar("_Built")


@dataclass(frozen=True)
class Registry(Generic[_Built]):
    """The backends of one interface, by name."""

    #: What the backends are, for the error that names an unknown one ("history store").
    interface: str
    makers: Mapping[str, Callable[..., _Built]]

    def names(self) -> tuple[str, ...]:
        """Every backend's name."""
        return tuple(self.makers)

    def create(self, name: str, *args: Any, **options: Any) -> _Built:
        """Build the backend ``name`` (its maker's arguments, then options its constructor takes)."""
        maker = self.makers.get(name)
        if maker is None:
            raise ConfigError(f"no {self.interface} is called {name!r}: one of {', '.join(self.makers)}")
        return maker(*args, **options)


def _sql_history(settings: Settings, **options: Any) -> HistoryStore:
    from process_memory.history.sql import SQLHistoryStore

    if not settings.database_url:
        raise ConfigError("the SQL history store needs PROCESS_MEMORY_DATABASE_URL (or the embedded default)")
    return SQLHistoryStore(
        settings.database_url,
        timeout_ms=settings.database_timeout_ms,
        transaction_pooler=settings.database_transaction_pooler,
        listen_url=settings.database_listen_url,
        **options,
    )


def _mongo_history(settings: Settings, **options: Any) -> HistoryStore:
    from process_memory.history.mongo import MongoHistoryStore

    if not settings.docdb_uri:
        raise ConfigError("the MongoDB history store needs DOCDB_URI or DOCDB_HOST")
    return MongoHistoryStore(
        settings.docdb_uri,
        settings.docdb_database_name,
        settings.docdb_collection,
        timeout_ms=settings.database_timeout_ms,
        **options,
    )


#: History stores, each made from the settings.
HISTORY_STORES: Registry[HistoryStore] = Registry("history store", {"sql": _sql_history, "mongo": _mongo_history})


def history_backend(settings: Settings) -> str:
    """The history backend the settings name: MongoDB when DOCDB_URI/DOCDB_HOST is set, else SQL."""
    return "mongo" if settings.docdb_uri else "sql"


def _memory_state(settings: Settings, **options: Any) -> StateStore:
    from process_memory.stores.memory import MemoryStore

    return MemoryStore(**options)


def _file_state(settings: Settings, **options: Any) -> StateStore:
    from process_memory.stores.file import FileStore

    return FileStore(settings.state_file_dir, **options)


def _sql_state(settings: Settings, **options: Any) -> StateStore:
    from process_memory.stores.sql import SQLStore

    if not settings.state_sql_url:
        raise ConfigError("the SQL state store needs PROCESS_MEMORY_STATE_SQL_URL or a SQL history database")
    return SQLStore(settings.state_sql_url, settings.state_sql_table, **options)


def _redis_state(settings: Settings, **options: Any) -> StateStore:
    from process_memory.stores.redis import RedisStore

    if not settings.state_redis_url:
        raise ConfigError("the Redis state store needs PROCESS_MEMORY_STATE_REDIS_URL")
    return RedisStore(settings.state_redis_url, **options)


#: State stores, each made from the settings.
STATE_STORES: Registry[StateStore] = Registry(
    "state store", {"memory": _memory_state, "file": _file_state, "sql": _sql_state, "redis": _redis_state}
)


def _sql_memory(history: Any, writer: Any) -> object:
    from process_memory.memory.sql import memory_hook

    return memory_hook(history, writer)


def _mongo_memory(history: Any, writer: Any) -> object:
    from process_memory.memory.mongo import memory_hook

    return memory_hook(history, writer)


#: The current memory's tables and hook, by the history backend they are kept beside (the memory index itself is
#: one for every backend: memory/index.py).
MEMORY_HOOKS: Registry[object] = Registry("memory projection hook", {"sql": _sql_memory, "mongo": _mongo_memory})
