"""Backends are chosen by name from one registry per interface; an unknown name is an error wherever it is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from process_memory.config import ConfigError, Settings
from process_memory.history.sql.projections import SQLRowsHook
from process_memory.memory import memory_index_of
from process_memory.registry import HISTORY_STORES, MEMORY_HOOKS, STATE_STORES, history_backend
from process_memory.stores import FileStore, MemoryStore, SQLStore
from tests.conftest import HISTORY_ENGINE_BACKENDS, STATE_ENGINE_BACKENDS


def test_each_registry_names_its_backends() -> None:
    assert HISTORY_STORES.names() == ("sql", "mongo")
    assert STATE_STORES.names() == ("memory", "file", "sql", "redis")
    assert MEMORY_HOOKS.names() == ("sql", "mongo")


@pytest.mark.parametrize("registry", [HISTORY_STORES, STATE_STORES, MEMORY_HOOKS])
def test_an_unknown_backend_is_an_error_naming_the_known_ones(registry: object) -> None:
    with pytest.raises(ConfigError, match="is called 'postgres': one of .*sql"):
        registry.create("postgres", Settings())  # type: ignore[attr-defined]


def test_the_configuration_refuses_an_unknown_state_backend() -> None:
    with pytest.raises(ConfigError, match="PROCESS_MEMORY_STATE_BACKEND must be one of memory, file, sql, redis"):
        Settings.from_env({"PROCESS_MEMORY_STATE_BACKEND": "rediss"})


def test_state_stores_are_built_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(state_file_dir=str(tmp_path / "files"), state_sql_url=f"sqlite:///{tmp_path / 's.sqlite3'}")
    assert type(STATE_STORES.create("memory", settings)) is MemoryStore
    assert type(STATE_STORES.create("file", settings)) is FileStore
    sql = STATE_STORES.create("sql", settings)
    assert type(sql) is SQLStore and sql.table.name == "process_memory_state"
    with pytest.raises(ConfigError, match="Redis state store needs PROCESS_MEMORY_STATE_REDIS_URL"):
        STATE_STORES.create("redis", settings)


def test_the_history_backend_follows_the_settings_and_brings_its_memory_index(tmp_path: Path) -> None:
    sql = Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}")
    assert history_backend(sql) == "sql" and history_backend(Settings(docdb_uri="mongodb://h/")) == "mongo"
    store = HISTORY_STORES.create(history_backend(sql), sql)
    assert memory_index_of(store) is memory_index_of(store)
    assert type(store._projection_hooks["memory"]) is SQLRowsHook  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="MongoDB history store needs DOCDB_URI"):
        HISTORY_STORES.create("mongo", sql)


def test_the_tests_engines_are_registry_backends() -> None:
    assert set(HISTORY_ENGINE_BACKENDS.values()) == {"sql", "mongo"}
    assert set(STATE_ENGINE_BACKENDS.values()) == {"memory", "file", "sql", "redis"}
