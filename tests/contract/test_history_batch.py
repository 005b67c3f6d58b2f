"""Batch ingest, on every history backend: in order, idempotent by id, resumable, one round trip."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from process_memory.exceptions import StoreUnavailable
from process_memory.history.store import HistoryStore
from tests.backends import holder_of

API = "/api/v1/instances"


def entries(count: int, start: int = 0) -> list[dict[str, Any]]:
    """Entries with ids; every fourth is large enough to be offloaded (the fixture inlines 4 KiB)."""
    return [
        {"type": "row", "id": str(uuid.uuid4()), "data": {"n": n, "pad": "x" * (5000 if n % 4 == 0 else 10)}}
        for n in range(start, start + count)
    ]


def history(client: FlaskClient, iid: str) -> list[dict[str, Any]]:
    """Every entry of the instance."""
    return client.get(f"{API}/{iid}/history?limit=1000").get_json()["items"]


def test_a_batch_is_appended_in_order(client: FlaskClient, iid: str) -> None:
    client.post(f"{API}/{iid}/history", json={"type": "first", "data": 0})
    batch = entries(10)
    response = client.post(f"{API}/{iid}/history/batch", json={"entries": batch})
    assert response.status_code == 201
    results = response.get_json()["results"]
    assert [r["id"] for r in results] == [e["id"] for e in batch]
    assert [r["seq"] for r in results] == list(range(1, 11))
    assert {r["outcome"] for r in results} == {"created"}
    stored = history(client, iid)
    assert [e["data"] for e in stored[1:]] == [e["data"] for e in batch]
    assert [r["hash"] for r in results] == [e["hash"] for e in stored[1:]]
    assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": True, "checked": 11, "first_bad_seq": None}


def test_a_batch_that_failed_half_way_completes_when_sent_again(
    client: FlaskClient, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = entries(12)
    real_insert_many = store.entries.insert_many

    def dies_half_way(chained: list[Any], fold: Any = None, frontier: Any = None) -> None:
        real_insert_many(chained[:5])  # five entries reach the database, then the connection drops
        raise StoreUnavailable()

    monkeypatch.setattr(holder_of(store, "insert_many"), "insert_many", dies_half_way)
    assert client.post(f"{API}/{iid}/history/batch", json={"entries": batch}).status_code == 503
    monkeypatch.undo()

    again = client.post(f"{API}/{iid}/history/batch", json={"entries": batch})
    assert again.status_code == 201
    outcomes = [r["outcome"] for r in again.get_json()["results"]]
    assert outcomes == ["existing"] * 5 + ["created"] * 7
    stored = history(client, iid)
    assert [e["id"] for e in stored] == [e["id"] for e in batch]
    assert client.get(f"{API}/{iid}/verify").get_json()["ok"] is True
    assert client.post(f"{API}/{iid}/history/batch", json={"entries": batch}).status_code == 200


def test_a_batch_costs_the_same_round_trips_whatever_its_size(
    client: FlaskClient, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, int] = {}
    for name in ("get_by_ids", "chain_head", "insert_many", "get_by_seq", "find"):
        real = getattr(holder_of(store, name), name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(holder_of(store, name), name, counted)
    small = [dict(e, data={"n": n}) for n, e in enumerate(entries(200))]
    assert client.post(f"{API}/{iid}/history/batch", json={"entries": small}).status_code == 201
    assert calls == {"get_by_ids": 1, "chain_head": 1, "insert_many": 1}
    calls.clear()
    # Without an id there is nothing to look up: the server's fresh id cannot exist yet.
    assert client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1}).status_code == 201
    assert calls == {"chain_head": 1, "insert_many": 1}


def test_a_conflicting_id_stores_nothing_more(client: FlaskClient, iid: str) -> None:
    batch = entries(4)
    client.post(f"{API}/{iid}/history/batch", json={"entries": batch[:2]})
    changed = [batch[0], dict(batch[1], data={"other": True}), *batch[2:]]
    response = client.post(f"{API}/{iid}/history/batch", json={"entries": changed})
    assert response.status_code == 409
    assert response.get_json()["error"]["details"]["id"] == batch[1]["id"]
    assert len(history(client, iid)) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entries": []}, "entries"),
        ({"entries": entries(1001)}, "entries"),
        ({"entries": [{"type": "t", "data": 1}]}, "entries"),  # no id
        ({}, "entries"),
    ],
)
def test_invalid_batches(client: FlaskClient, iid: str, body: dict[str, Any], field: str) -> None:
    response = client.post(f"{API}/{iid}/history/batch", json=body)
    assert response.status_code == 422 and field in response.get_json()["error"]["details"]
    assert client.get(f"{API}/{iid}").status_code == 404


def test_an_id_twice_in_one_batch_follows_the_retry_rule(client: FlaskClient, iid: str) -> None:
    [entry, other] = entries(2)
    conflict = client.post(f"{API}/{iid}/history/batch", json={"entries": [entry, dict(entry, data=2)]})
    assert conflict.status_code == 409 and conflict.get_json()["error"]["details"] == {"id": entry["id"]}
    assert client.get(f"{API}/{iid}").status_code == 404
    same = client.post(f"{API}/{iid}/history/batch", json={"entries": [entry, other, entry]}).get_json()["results"]
    assert [(r["seq"], r["outcome"]) for r in same] == [(0, "created"), (1, "created"), (0, "existing")]
    assert client.get(f"{API}/{iid}").get_json()["count"] == 2


def test_if_match_guards_a_batch(client: FlaskClient, iid: str) -> None:
    assert (
        client.post(
            f"{API}/{iid}/history/batch", json={"entries": entries(2)}, headers={"If-Match": '"-1"'}
        ).status_code
        == 201
    )
    stale = client.post(f"{API}/{iid}/history/batch", json={"entries": entries(2, 2)}, headers={"If-Match": '"0"'})
    assert stale.status_code == 412 and stale.get_json()["error"]["details"] == {"head": 1}
    assert len(history(client, iid)) == 2
