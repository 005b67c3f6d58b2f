"""Live tail and search across instances, on every history backend."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory.history.store import HistoryStore
from process_memory.services import services
from tests.backends import holder_of
from tests.services import wait_until

API = "/api/v1/instances"


def test_a_waiting_reader_gets_an_entry_written_while_it_waits(
    app: Flask, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app.test_client()
    client.post(f"{API}/{iid}/history", json={"type": "t", "data": 0})
    looked = threading.Event()
    real_find = store.entries.find

    def find_and_tell(*args: Any, **kwargs: Any) -> Any:
        found = real_find(*args, **kwargs)
        looked.set()
        return found

    monkeypatch.setattr(holder_of(store, "find"), "find", find_and_tell)
    answer: dict[str, Any] = {}
    reader = threading.Thread(
        target=lambda: answer.update(app.test_client().get(f"{API}/{iid}/history?after=0&wait=20").get_json())
    )
    reader.start()
    wait_until(looked.is_set, 10, "the reader's first look")  # it found nothing and is now waiting
    written = client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1}).get_json()
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert answer["items"] == [written]


def test_a_wait_that_ends_answers_an_empty_page(client: FlaskClient, iid: str) -> None:
    client.post(f"{API}/{iid}/history", json={"type": "t", "data": 0})
    started = time.monotonic()
    assert client.get(f"{API}/{iid}/history?after=0&wait=0.5").get_json() == {"items": [], "next": None}
    # It waited out the whole wait before answering: a lower bound on behaviour, not a speed.
    assert time.monotonic() - started >= 0.5
    assert client.get(f"{API}/{iid}/history?wait=31").status_code == 422


def test_search_across_instances_by_type_and_time(app: Flask, client: FlaskClient) -> None:
    service = services(app).history
    start = datetime(2031, 1, 1, tzinfo=UTC)  # a year no other test writes in
    tick = iter(range(1000))
    service.context.clock = lambda: start + timedelta(minutes=next(tick))
    kind = f"kind-{uuid.uuid4().hex[:6]}"
    instances = [str(uuid.uuid4()) for _ in range(3)]
    for n in range(9):
        client.post(f"{API}/{instances[n % 3]}/history", json={"type": kind if n % 2 == 0 else "other", "data": n})
    found, after = [], None
    while True:
        page = client.get(
            "/api/v1/history", query_string={"type": kind, "limit": 2, **({"after": after} if after else {})}
        )
        body = page.get_json()
        found += [(e["instance_id"], e["data"]) for e in body["items"]]
        after = body["next"]
        assert (after is None) == ("Link" not in page.headers)
        if after is None:
            break
    assert found == [(instances[n % 3], n) for n in range(0, 9, 2)]
    exact = client.get("/api/v1/history", query_string={"type": kind, "limit": 5})  # all five on one page
    assert len(exact.get_json()["items"]) == 5 and exact.get_json()["next"] is None and "Link" not in exact.headers
    window = client.get(
        "/api/v1/history", query_string={"since": "2031-01-01T00:02:00Z", "until": "2031-01-01T00:05:00Z", "limit": 100}
    ).get_json()["items"]
    assert [e["data"] for e in window] == [2, 3, 4]
    assert client.get("/api/v1/history?after=garbage").status_code == 422
    beyond = client.get("/api/v1/history", query_string={"after": "2031-01-01T00:08:00.000Z,zzz,99999999999999999999"})
    assert beyond.status_code == 422  # more digits than a seq has
    assert (
        client.get(
            "/api/v1/history", query_string={"type": kind, "after": "2031-01-01T00:08:00.000Z,zzz,9999999999999999999"}
        ).get_json()["items"]
        == []
    )
