"""The database goes away and comes back: 503 within the bound, then recovery without a restart."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.config import Settings
from tests.services import (
    FerretDBServer,
    PostgresServer,
    ferretdb_available,
    free_port,
    postgres_available,
    unavailable,
    wait_until,
)

API = "/api/v1/instances"
SECRET = "s3cr3t-Pa55word"
MARKER = "payload-marker-7f3a"


class StoppableServer(Protocol):
    """A database server a test may stop and start."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


@pytest.fixture(params=["ferretdb", "postgresql"])
def own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[StoppableServer, Settings]]:
    """A database of this test's own, so stopping it disturbs no other test; settings use the default 5 s bound."""
    if request.param == "ferretdb":
        reason = ferretdb_available()
        if reason:
            unavailable(reason)
        ferretdb = FerretDBServer(tmp_path / "data")
        ferretdb.start()
        yield ferretdb, Settings(docdb_uri=ferretdb.uri, docdb_collection="faults")
        ferretdb.stop()
    else:
        reason = postgres_available()
        if reason:
            unavailable(reason)
        postgres = PostgresServer()
        postgres.create()
        yield postgres, Settings(database_url=postgres.url)
        postgres.destroy()


def test_database_down_then_back(own_server: tuple[StoppableServer, Settings]) -> None:
    server, settings = own_server
    client = create_app(settings).test_client()
    iid = str(uuid.uuid4())
    written = [client.post(f"{API}/{iid}/history", json={"type": "t", "data": n}).get_json() for n in range(3)]

    server.stop()
    for method, path, body in (
        ("post", "/history", {"type": "t", "data": 3}),
        ("get", "/head", None),
        ("get", "", None),
        ("get", "/verify", None),
        ("get", "/history", None),
    ):
        started = time.monotonic()
        response = getattr(client, method)(f"{API}/{iid}{path}", json=body)
        elapsed = time.monotonic() - started
        assert response.status_code == 503, (path, response.get_data(as_text=True))
        assert response.headers["Retry-After"].isdigit()
        assert response.get_json()["error"]["code"] == "store_unavailable"
        # The bound is a behaviour (no hung worker), not a speed: about 5 s to reach a server, with slack.
        assert elapsed < 15, (path, elapsed)

    server.start()
    wait_until(lambda: client.get(f"{API}/{iid}/head").status_code == 200, 30, "recovery")
    assert client.get(f"{API}/{iid}/history").get_json()["items"] == written
    assert client.post(f"{API}/{iid}/history", json={"type": "t", "data": 3}).get_json()["seq"] == 3
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": True, "checked": 4, "first_bad_seq": None}


def _client_with_logs(settings: Settings, caplog: pytest.LogCaptureFixture) -> FlaskClient:
    app = create_app(settings)
    caplog.set_level(logging.DEBUG)  # create_app caps pymongo; capture everything else
    return app.test_client()


@pytest.mark.parametrize("url_kind", ["mongodb", "postgresql"])
def test_no_secret_in_responses_or_logs_when_the_database_is_unreachable(
    caplog: pytest.LogCaptureFixture, url_kind: str
) -> None:
    port = free_port()
    settings = (
        Settings(docdb_uri=f"mongodb://app:{SECRET}@127.0.0.1:{port}/?retryWrites=false", database_timeout_ms=500)
        if url_kind == "mongodb"
        else Settings(database_url=f"postgresql+psycopg://app:{SECRET}@127.0.0.1:{port}/db", database_timeout_ms=1000)
    )
    client = _client_with_logs(settings, caplog)
    response = client.post(f"{API}/x/history", json={"type": "t", "data": MARKER})
    assert response.status_code == 503
    assert SECRET not in response.get_data(as_text=True) and SECRET not in caplog.text
    assert MARKER not in response.get_data(as_text=True) and MARKER not in caplog.text


def test_no_payload_in_logs_at_any_level(ferretdb: FerretDBServer, caplog: pytest.LogCaptureFixture) -> None:
    client = _client_with_logs(Settings(docdb_uri=ferretdb.uri, docdb_collection="logs"), caplog)
    iid, entry_id = str(uuid.uuid4()), str(uuid.uuid4())
    for data in ({"m": MARKER}, {"m": MARKER * 2}):  # the second is a 409
        client.post(f"{API}/{iid}/history", json={"type": "t", "data": data, "id": entry_id, "metadata": {"m": MARKER}})
    client.post(f"{API}/{iid}/history", data='{"type": "t", "data": "' + MARKER, content_type="application/json")
    client.get(f"{API}/{iid}/history")
    assert MARKER not in caplog.text

    # Control: without the app's cap, the driver's DEBUG log carries the payload, so the check above can fail.
    logging.getLogger("pymongo").setLevel(logging.DEBUG)
    try:
        client.post(f"{API}/{iid}/history", json={"type": "t", "data": {"m": MARKER}})
    finally:
        logging.getLogger("pymongo").setLevel(logging.WARNING)
    assert MARKER in caplog.text
