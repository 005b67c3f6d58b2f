"""Fixtures: the history backends (mongomock, FerretDB, MONGODB_TEST_URI) and apps over them."""

from __future__ import annotations

import os
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mongomock
import mongomock.gridfs
import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.config import Settings
from process_memory.history.mongo import MongoHistoryStore
from tests.services import FerretDBServer, ferretdb_available, unavailable

mongomock.gridfs.enable_gridfs_integration()

# MONGODB_TEST_URI adds a real MongoDB (or DocumentDB) run; FerretDB is the mandatory real server.
HISTORY_BACKENDS = ["mongomock", "ferretdb"] + (["mongodb"] if os.environ.get("MONGODB_TEST_URI") else [])


class _MongomockClient(mongomock.MongoClient):
    """mongomock lacks the client options GridFSBucket reads in pymongo 4.x."""

    options = types.SimpleNamespace(timeout=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDBServer]:
    """One FerretDB server for the whole run; tests isolate themselves by collection name."""
    reason = ferretdb_available()
    if reason:
        unavailable(reason)
    server = FerretDBServer(tmp_path_factory.mktemp("ferretdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=HISTORY_BACKENDS)
def history_backend(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings and a store over one backend, in a collection of the test's own."""
    collection = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "mongomock":
        uri = "mongodb://mongomock.invalid"
        factory: Any = _MongomockClient
    else:
        uri = _real_uri(request, request.param)
        factory = None
    settings = Settings(docdb_uri=uri, docdb_database_name="pm_test", docdb_collection=collection,
                        docdb_max_data=4096, max_request_bytes=8 * 1024 * 1024, docdb_timeout_ms=3000)
    store = MongoHistoryStore(uri, "pm_test", collection, timeout_ms=3000,
                              **({"client_factory": factory} if factory else {}))
    yield {"name": request.param, "settings": settings, "store": store}
    if request.param != "mongomock":
        database = store._database()
        for name in database.list_collection_names():
            if name.startswith(collection):
                database.drop_collection(name)
    store.close()


def _real_uri(request: pytest.FixtureRequest, name: str) -> str:
    if name == "ferretdb":
        return request.getfixturevalue("ferretdb").uri
    return os.environ["MONGODB_TEST_URI"]


@pytest.fixture
def store(history_backend: dict[str, Any]) -> MongoHistoryStore:
    """The backend's store."""
    return history_backend["store"]


@pytest.fixture
def app(history_backend: dict[str, Any]) -> Flask:
    """An app over the backend, with a small inline threshold so offloading is exercised."""
    return create_app(history_backend["settings"], history_store=history_backend["store"])


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def service(app: Flask) -> Any:
    """The app's HistoryService."""
    return app.extensions["process_memory.history"]


@pytest.fixture
def iid() -> str:
    """A fresh instance id."""
    return str(uuid.uuid4())


@pytest.fixture
def project_root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parent.parent
