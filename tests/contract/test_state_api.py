"""The instance state API, run against every state backend (memory, file, SQLite, PostgreSQL, Redis)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.config import Settings
from process_memory.services import services
from process_memory.stores import FileStore, StateStore
from tests.conftest import FakeClock
from tests.services import wait_until

API = "/api/v1/instances"


def _app(tmp_path: Path, state_store: StateStore, **settings: Any) -> Flask:
    return create_app(
        Settings(database_url=f"sqlite:///{tmp_path / 'history.sqlite3'}", **settings), state_store=state_store
    )


@pytest.fixture
def state_client(tmp_path: Path, state_store: StateStore) -> FlaskClient:
    """A client of an app whose state lives in the backend under test (limit 4 KiB)."""
    return _app(tmp_path, state_store, state_max_bytes=4096).test_client()


@pytest.fixture
def url() -> str:
    """The state URL of a fresh instance."""
    return f"{API}/{uuid.uuid4()}/state"


def test_put_get_delete(state_client: FlaskClient, url: str) -> None:
    assert state_client.get(url).status_code == 404
    created = state_client.put(url, json={"step": 1, "cursor": [1, 2]})
    assert created.status_code == 201
    etag = created.headers["ETag"]
    fetched = state_client.get(url)
    assert fetched.status_code == 200 and fetched.get_json() == {"step": 1, "cursor": [1, 2]}
    assert fetched.headers["ETag"] == etag and fetched.content_type == "application/json"
    replaced = state_client.put(url, json="any JSON, even a string")
    assert replaced.status_code == 200 and replaced.headers["ETag"] != etag
    assert state_client.get(url).get_json() == "any JSON, even a string"
    assert state_client.delete(url).status_code == 204
    assert state_client.get(url).status_code == 404
    assert state_client.delete(url).get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("precondition", ["*", '"5c1f0b6e2a7d4c1e9a550b8f2d7e4c10"'])
def test_if_none_match_on_delete_is_refused_not_ignored(state_client: FlaskClient, url: str, precondition: str) -> None:
    state_client.put(url, json={"kept": True})
    refused = state_client.delete(url, headers={"If-None-Match": precondition})
    assert refused.status_code == 422 and "If-None-Match" in refused.get_json()["error"]["details"]
    assert state_client.get(url).get_json() == {"kept": True}


def test_if_match_guards_every_write(state_client: FlaskClient, url: str) -> None:
    first = state_client.put(url, json={"v": 1}).headers["ETag"]
    second = state_client.put(url, json={"v": 2}, headers={"If-Match": first})
    assert second.status_code == 200
    stale = state_client.put(url, json={"v": "lost"}, headers={"If-Match": first})
    assert stale.status_code == 412 and stale.get_json()["error"]["code"] == "precondition_failed"
    assert state_client.delete(url, headers={"If-Match": first}).status_code == 412
    assert state_client.get(url).get_json() == {"v": 2}
    assert state_client.put(url, json={"v": 3}, headers={"If-Match": "*"}).status_code == 200
    current = state_client.get(url).headers["ETag"]
    assert state_client.delete(url, headers={"If-Match": current}).status_code == 204
    assert state_client.put(url, json={"v": 4}, headers={"If-Match": "*"}).status_code == 412
    assert state_client.get(url).status_code == 404


def test_if_none_match_creates_only(state_client: FlaskClient, url: str) -> None:
    assert state_client.put(url, json=1, headers={"If-None-Match": "*"}).status_code == 201
    assert state_client.put(url, json=2, headers={"If-None-Match": "*"}).status_code == 412
    assert state_client.get(url).get_json() == 1


def test_ttl_expires_the_state(tmp_path: Path, state_store: StateStore, clock: FakeClock, url: str) -> None:
    client = _app(tmp_path, state_store, state_ttl=100).test_client()
    client.put(f"{url}?ttl=10", json={"short": True})
    other = f"{API}/{uuid.uuid4()}/state"
    client.put(other, json={"default": True})  # PROCESS_MEMORY_STATE_TTL: 100 s
    clock.advance(11)
    assert client.get(url).status_code == 404
    assert client.get(other).status_code == 200
    clock.advance(90)
    assert client.get(other).status_code == 404


@pytest.mark.parametrize(
    ("request_kwargs", "status", "field"),
    [
        ({"data": "{", "content_type": "application/json"}, 400, None),
        ({"data": "1", "content_type": "text/plain"}, 415, None),
        ({"json": {"pad": "x" * 5000}}, 413, None),
        ({"json": 1, "headers": {"If-Match": "not-an-etag"}}, 422, "If-Match"),
        ({"json": 1, "headers": {"If-None-Match": '"abc"'}}, 422, "If-None-Match"),
        ({"json": 1, "query_string": {"ttl": 0}}, 422, "ttl"),
        ({"json": 1, "query_string": {"colour": "red"}}, 422, "colour"),
    ],
)
def test_bad_requests(
    state_client: FlaskClient, url: str, request_kwargs: dict[str, Any], status: int, field: str | None
) -> None:
    state_client.put(url, json={"kept": True})
    response = state_client.put(url, **request_kwargs)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert isinstance(error["message"], str)
    if field:
        assert field in error["details"]
    assert state_client.get(url).get_json() == {"kept": True}


def test_states_of_instances_are_separate(state_client: FlaskClient) -> None:
    a, b = f"{API}/{uuid.uuid4()}/state", f"{API}/{uuid.uuid4()}/state"
    state_client.put(a, json="a")
    state_client.put(b, json="b")
    assert (state_client.get(a).get_json(), state_client.get(b).get_json()) == ("a", "b")
    state_client.put(a, json="a2", headers={"If-Match": state_client.get(a).headers["ETag"]})
    assert (state_client.get(a).get_json(), state_client.get(b).get_json()) == ("a2", "b")
    assert state_client.delete(a).status_code == 204
    assert (state_client.get(a).status_code, state_client.get(b).get_json()) == (404, "b")


def test_expired_state_is_swept_in_the_background(tmp_path: Path, clock: FakeClock) -> None:
    store = FileStore(tmp_path / "state", clock=clock)
    app = _app(tmp_path, store, state_sweep_seconds=1)
    client = app.test_client()
    url = f"{API}/{uuid.uuid4()}/state"
    client.put(f"{url}?ttl=5", json={"temporary": True})  # the first request starts the sweeper
    files = list((tmp_path / "state").rglob("keys/*"))
    assert len(files) == 1
    clock.advance(6)
    # No request reads the value: only the sweeper can remove it.
    wait_until(lambda: not files[0].exists(), 15, "the background sweep")
    services(app).sweeper.stop()
