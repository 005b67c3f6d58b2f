"""Fixtures: the history backends (mongomock, FerretDB, SQLite, PostgreSQL, MONGODB_TEST_URI) and apps over them."""

from __future__ import annotations

import os
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mongomock
import mongomock.gridfs
import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.config import Settings
from process_memory.history.service import HistoryService
from process_memory.history.store import HistoryStore
from process_memory.memory import memory_index_of
from process_memory.memory.index import MemoryIndex
from process_memory.registry import HISTORY_STORES, STATE_STORES
from process_memory.services import services
from process_memory.stores import SQLStore, StateStore
from tests.backends import RawAccess, raw_access
from tests.services import (
    FerretDBServer,
    PostgresServer,
    RedisServer,
    ferretdb_available,
    postgres_available,
    redis_available,
    unavailable,
)
from tests.witnesses import Litewitness, witness_available

mongomock.gridfs.enable_gridfs_integration()

#: `make mutate` names the fast backends here (comma-separated); tests over any other backend are left out.
ONLY_BACKENDS = {name for name in os.environ.get("PROCESS_MEMORY_TEST_BACKENDS", "").split(",") if name}


def _selected(names: list[str]) -> list[str]:
    return [name for name in names if not ONLY_BACKENDS or name in ONLY_BACKENDS]


# MONGODB_TEST_URI adds a real MongoDB (or DocumentDB) run; FerretDB is the mandatory real MongoDB-wire server.
HISTORY_BACKENDS = _selected(
    ["mongomock", "ferretdb", "ferretdb-pg", "sqlite", "postgresql"]
    + (["mongodb"] if os.environ.get("MONGODB_TEST_URI") else [])
)
#: Small, so that offloading is exercised by ordinary test data.
TEST_MAX_INLINE = 4096


class _MongomockClient(mongomock.MongoClient):
    """mongomock lacks the client options GridFSBucket reads in pymongo 4.x."""

    options = types.SimpleNamespace(timeout=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()


def _serve(
    name: str, reason: str | None, make: Callable[[], Any], up: str = "start", down: str = "stop"
) -> Iterator[Any]:
    """Start a test server for the whole run, or skip (locally) or fail (CI) with the reason it cannot."""
    if ONLY_BACKENDS and name not in ONLY_BACKENDS:
        pytest.skip(f"{name} is not in PROCESS_MEMORY_TEST_BACKENDS")
    if reason:
        unavailable(reason)
    server = make()
    getattr(server, up)()
    yield server
    getattr(server, down)()


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDBServer]:
    """One FerretDB server for the whole run; tests isolate themselves by collection name."""
    yield from _serve("ferretdb", ferretdb_available(), lambda: FerretDBServer(tmp_path_factory.mktemp("ferretdb")))


@pytest.fixture(scope="session")
def ferretdb_pg(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDBServer]:
    """One FerretDB server on its PostgreSQL handler for the whole run, on a database of its own in the tests'
    PostgreSQL cluster."""

    def make() -> FerretDBServer:
        url = request.getfixturevalue("postgres").create_database("ferretdb")
        return FerretDBServer(tmp_path_factory.mktemp("ferretdb-pg"), postgresql_url=url)

    yield from _serve("ferretdb-pg", ferretdb_available() or postgres_available(), make)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole run; tests isolate themselves by table prefix."""
    yield from _serve("postgresql", postgres_available(), PostgresServer, up="create", down="destroy")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis server for the whole run; tests isolate themselves by key prefix."""
    yield from _serve("redis", redis_available(), lambda: RedisServer(tmp_path_factory.mktemp("redis")))


class WitnessPair:
    """Two litewitness processes, each with its own key: the tests' independent witnesses."""

    def __init__(self, directory: Path) -> None:
        self.witnesses = [Litewitness(directory / name, f"{name}.witness.test") for name in ("w1", "w2")]

    def start(self) -> None:
        """Start both."""
        for witness in self.witnesses:
            witness.start()

    def stop(self) -> None:
        """Stop both."""
        for witness in self.witnesses:
            witness.stop()


@pytest.fixture(scope="session")
def witness_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WitnessPair]:
    """Two witnesses for the whole run; tests isolate themselves by log origin."""
    yield from _serve("litewitness", witness_available(), lambda: WitnessPair(tmp_path_factory.mktemp("witnesses")))


@dataclass
class Backend:
    """One history backend as a test sees it."""

    name: str
    settings: Settings
    store: HistoryStore
    raw: RawAccess


#: Each test engine of the history, and the backend of the registry it is (a name missing here is an error).
HISTORY_ENGINE_BACKENDS = {
    "sqlite": "sql",
    "postgresql": "sql",
    "mongomock": "mongo",
    "ferretdb": "mongo",
    "ferretdb-pg": "mongo",
    "mongodb": "mongo",
}


def _make_store(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> tuple[HistoryStore, Settings]:
    unique = f"t_{uuid.uuid4().hex[:12]}"
    common: dict[str, Any] = {
        "max_inline_data": TEST_MAX_INLINE,
        "max_request_bytes": 8 * 1024 * 1024,
        "database_timeout_ms": 3000,
    }
    backend = HISTORY_ENGINE_BACKENDS[name]
    if backend == "sql":
        url = (
            f"sqlite:///{tmp_path / 'history.sqlite3'}" if name == "sqlite" else request.getfixturevalue("postgres").url
        )
        settings = Settings(database_url=url, **common)
        return HISTORY_STORES.create(backend, settings, table_prefix=unique), settings
    options: dict[str, Any] = {}
    if name == "mongomock":
        uri, options = "mongodb://mongomock.invalid", {"client_factory": _MongomockClient}
    else:
        servers = {"ferretdb": "ferretdb", "ferretdb-pg": "ferretdb_pg"}
        uri = request.getfixturevalue(servers[name]).uri if name in servers else os.environ["MONGODB_TEST_URI"]
    settings = Settings(docdb_uri=uri, docdb_database_name="pm_test", docdb_collection=unique, **common)
    return HISTORY_STORES.create(backend, settings, **options), settings


@pytest.fixture(params=HISTORY_BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A store over one backend, in tables or collections of the test's own."""
    store, settings = _make_store(request, request.param, tmp_path)
    raw = raw_access(store)
    yield Backend(request.param, settings, store, raw)
    if request.param != "mongomock":
        raw.drop()
    store.close()


@pytest.fixture
def store(backend: Backend) -> HistoryStore:
    """The backend's store."""
    return backend.store


@pytest.fixture
def memory_index(backend: Backend) -> MemoryIndex:
    """The current memory and lineage indexes the backend keeps beside its history."""
    return memory_index_of(backend.store)


@pytest.fixture
def raw(backend: Backend) -> RawAccess:
    """Direct access to the backend's tables or collections."""
    return backend.raw


@pytest.fixture
def app(backend: Backend) -> Flask:
    """An app over the backend."""
    return create_app(backend.settings, history_store=backend.store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def service(app: Flask) -> HistoryService:
    """The app's HistoryService."""
    return services(app).history


@pytest.fixture
def iid() -> str:
    """A fresh instance id."""
    return str(uuid.uuid4())


@pytest.fixture
def project_root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parent.parent


STATE_BACKENDS = _selected(["memory", "file", "sqlite", "postgresql", "redis"])


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock."""
    return FakeClock()


#: Each test engine of the state, and the backend of the registry it is (a name missing here is an error).
STATE_ENGINE_BACKENDS = {"memory": "memory", "file": "file", "sqlite": "sql", "postgresql": "sql", "redis": "redis"}


def make_state_store(name: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> StateStore:
    """A root store over one backend, private to the test."""
    backend = STATE_ENGINE_BACKENDS[name]
    options: dict[str, Any] = {"clock": clock}
    if name == "sqlite":
        settings = Settings(state_sql_url=f"sqlite:///{tmp_path / 'state.sqlite3'}")
    elif name == "postgresql":
        settings = Settings(
            state_sql_url=request.getfixturevalue("postgres").url, state_sql_table=f"state_{uuid.uuid4().hex[:12]}"
        )
    elif name == "redis":
        settings = Settings(state_redis_url=request.getfixturevalue("redis_server").url)
        options["prefix"] = f"t{uuid.uuid4().hex[:12]}:"
    else:
        settings = Settings(state_file_dir=str(tmp_path / "state"))
    return STATE_STORES.create(backend, settings, **options)


@pytest.fixture(params=STATE_BACKENDS)
def state_store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    """A root state store over one backend."""
    state = make_state_store(request.param, request, tmp_path, clock)
    yield state
    state.delete_all()
    if isinstance(state, SQLStore) and request.param == "postgresql":
        state.table.drop(state._engine.get())
    state.close()
