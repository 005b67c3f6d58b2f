"""The database goes away and comes back: 503 within the bound, then recovery without a restart."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.config import Settings
from tests.services import FerretDBServer, ferretdb_available, free_port, unavailable, wait_until

API = "/api/v1/instances"
SECRET = "s3cr3t-Pa55word"
MARKER = "payload-marker-7f3a"


@pytest.fixture
def own_ferretdb(tmp_path: Path) -> Iterator[FerretDBServer]:
    """A FerretDB this test may stop and start without disturbing the others."""
    reason = ferretdb_available()
    if reason:
        unavailable(reason)
    server = FerretDBServer(tmp_path / "data")
    server.start()
    yield server
    server.stop()


def test_database_down_then_back(own_ferretdb: FerretDBServer) -> None:
    app = create_app(Settings(docdb_uri=own_ferretdb.uri, docdb_collection="faults"))  # default 5 s bound
    client = app.test_client()
    iid = str(uuid.uuid4())
    written = [client.post(f"{API}/{iid}/history", json={"type": "t", "data": n}).get_json() for n in range(3)]

    own_ferretdb.stop()
    for method, path, body in (("post", "/history", {"type": "t", "data": 3}), ("get", "/head", None),
                               ("get", "", None), ("get", "/verify", None)):
        started = time.monotonic()
        response = getattr(client, method)(f"{API}/{iid}{path}", json=body)
        elapsed = time.monotonic() - started
        assert response.status_code == 503, (path, response.get_data(as_text=True))
        assert response.headers["Retry-After"].isdigit()
        assert response.get_json()["error"]["code"] == "store_unavailable"
        # The bound is a behaviour (no hung worker), not a speed: 5 s to select a server, with slack.
        assert elapsed < 15, (path, elapsed)

    own_ferretdb.start()
    wait_until(lambda: client.get(f"{API}/{iid}/head").status_code == 200, 30, "recovery")
    assert client.get(f"{API}/{iid}/history").get_json()["items"] == written
    assert client.post(f"{API}/{iid}/history", json={"type": "t", "data": 3}).get_json()["seq"] == 3
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": True, "checked": 4, "first_bad_seq": None}


def _client_with_logs(uri: str, caplog: pytest.LogCaptureFixture) -> FlaskClient:
    caplog.set_level(logging.DEBUG)
    app = create_app(Settings(docdb_uri=uri, docdb_collection="logs", docdb_timeout_ms=500))
    caplog.set_level(logging.DEBUG)  # create_app caps pymongo; capture everything else
    return app.test_client()


def test_no_secret_in_responses_or_logs_when_the_database_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    client = _client_with_logs(f"mongodb://app:{SECRET}@127.0.0.1:{free_port()}/?retryWrites=false", caplog)
    response = client.post(f"{API}/x/history", json={"type": "t", "data": MARKER})
    assert response.status_code == 503
    assert SECRET not in response.get_data(as_text=True) and SECRET not in caplog.text
    assert MARKER not in response.get_data(as_text=True) and MARKER not in caplog.text


def test_no_payload_in_logs_at_any_level(ferretdb: FerretDBServer, caplog: pytest.LogCaptureFixture) -> None:
    client = _client_with_logs(ferretdb.uri, caplog)
    iid, entry_id = str(uuid.uuid4()), str(uuid.uuid4())
    for data in ({"m": MARKER}, {"m": MARKER * 2}):  # the second is a 409
        client.post(f"{API}/{iid}/history", json={"type": "t", "data": data, "id": entry_id,
                                                   "metadata": {"m": MARKER}})
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
