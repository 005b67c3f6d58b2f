"""Rules of the history service that HTTP does not show directly, on every history backend."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory.exceptions import Conflict, DuplicateEntry, InvalidInput
from process_memory.history.service import MAX_METADATA_BYTES, HistoryService, NewEntry, format_timestamp
from process_memory.history.store import HistoryQuery, HistoryStore, StoredEntry

API = "/api/v1/instances"


def _count_calls(monkeypatch: pytest.MonkeyPatch, store: HistoryStore, method: str) -> list[Any]:
    calls: list[Any] = []
    real = getattr(store, method)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, method, counted)
    return calls


def test_a_number_json_cannot_hold_is_refused_and_nothing_stored(service: HistoryService, iid: str) -> None:
    for data in (float("nan"), [1, {"x": float("inf")}]):
        with pytest.raises(InvalidInput) as refused:
            service.append_entry(iid, NewEntry(type="t", data=data))
        assert (refused.value.message, refused.value.details) == (
            "data holds a number JSON cannot represent", {"data": ["not finite"]})
    assert service.store.head(iid) is None


def test_metadata_of_exactly_the_limit_is_kept(client: FlaskClient, iid: str) -> None:
    padding = "x" * (MAX_METADATA_BYTES - len('{"m":""}'))
    kept = client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1, "metadata": {"m": padding}})
    assert kept.status_code == 201 and kept.get_json()["metadata"] == {"m": padding}
    refused = client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1, "metadata": {"m": padding + "x"}})
    assert refused.status_code == 422


def test_listeners_hear_of_each_created_entry_once(service: HistoryService, iid: str) -> None:
    heard: list[list[StoredEntry]] = []
    service.listeners.append(heard.append)
    entry_id = str(uuid.uuid4())
    service.append_entry(iid, NewEntry(type="t", data=1, id=entry_id))
    service.append_entry(iid, NewEntry(type="t", data=1, id=entry_id))  # a safe retry creates nothing
    service.append_entries(iid, [NewEntry(type="t", data=n) for n in range(3)])
    assert [[entry.seq for entry in created] for created in heard] == [[0], [1, 2, 3]]


def test_a_blob_that_cannot_be_deleted_is_left_to_the_sweep(service: HistoryService, store: HistoryStore,
                                                            iid: str, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    entry_id = str(uuid.uuid4())
    real_insert = store.insert_many

    def lose_the_race(entries: list[StoredEntry]) -> None:
        # Another writer stores the same id with other content first; our large entry's blob is now unused.
        monkeypatch.setattr(store, "insert_many", real_insert)
        service.append_entry(iid, NewEntry(type="t", data="theirs", id=entry_id))
        raise DuplicateEntry(0)

    def refuse(ref: str) -> None:
        raise RuntimeError("the database said no")

    monkeypatch.setattr(store, "insert_many", lose_the_race)
    monkeypatch.setattr(store, "delete_blob", refuse)
    with caplog.at_level(logging.WARNING, logger="process_memory.history.service"), pytest.raises(Conflict):
        service.append_entry(iid, NewEntry(type="t", data="x" * 10_000, id=entry_id))
    [warning] = [r for r in caplog.records if r.name == "process_memory.history.service"]
    assert (warning.levelno, warning.getMessage(), warning.exc_info) == (
        logging.WARNING, "could not delete an unused blob; the orphan sweep will", None)  # no driver text


def test_a_read_without_a_wait_looks_once(service: HistoryService, store: HistoryStore, iid: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    looks = _count_calls(monkeypatch, store, "find")
    assert service.read_history(iid, HistoryQuery()) == ([], None)
    assert len(looks) == 1


def test_the_instance_cursor_is_the_last_id_on_the_page(client: FlaskClient) -> None:
    ids = sorted(f"{uuid.uuid4().hex[:8]}-{n}" for n in range(5))
    for iid in ids:
        client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1})
    page = client.get(API, query_string={"limit": 3}).get_json()
    assert ([item["instance_id"] for item in page["items"]], page["next"]) == (ids[:3], ids[2])


@pytest.mark.parametrize("line", [5, [1], "text", None])
def test_an_import_line_that_is_not_an_entry_is_refused(client: FlaskClient, iid: str, line: Any) -> None:
    client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1})
    exported = json.loads(client.get(f"{API}/{iid}/export").get_data())
    target = str(uuid.uuid4())
    for lines in ([exported, line], [{**exported, "extra": 1}]):
        response = client.post(f"{API}/{target}/import", data=b"\n".join(json.dumps(x).encode() for x in lines),
                               content_type="application/x-ndjson")
        assert response.status_code == 422, response.get_data(as_text=True)
        assert response.get_json()["error"]["details"] == {"seq": len(lines) - 1}
    assert client.get(f"{API}/{target}").status_code == 404


def test_an_empty_import_is_refused(service: HistoryService, iid: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.import_entries(iid, [])
    assert (refused.value.message, refused.value.details) == (
        "the import holds no entry", {"body": ["one exported entry per line"]})


def test_copies_go_to_the_store_a_hundred_at_a_time(client: FlaskClient, store: HistoryStore, iid: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    client.post(f"{API}/{iid}/history/batch", json={"entries": [
        {"type": "t", "data": n, "id": str(uuid.uuid4())} for n in range(150)]})
    inserts = _count_calls(monkeypatch, store, "insert_many")
    assert client.post(f"{API}/{iid}/clone", json={"to": str(uuid.uuid4())}).get_json()["count"] == 150
    assert [len(args[0]) for args in inserts] == [100, 50]


def test_a_repaired_summary_takes_its_times_from_the_first_and_last_entries(
    app: Flask, client: FlaskClient, raw: Any, iid: str
) -> None:
    service = app.extensions["process_memory.history"]
    start = datetime(2030, 6, 1, tzinfo=timezone.utc)
    ticks = iter(range(100))
    service.clock = lambda: start + timedelta(minutes=next(ticks))
    entries = [client.post(f"{API}/{iid}/history", json={"type": "t", "data": n}).get_json() for n in range(3)]
    raw.set_summary_head(iid, 0)  # as if the process died after the first append
    assert client.get(f"{API}/{iid}").get_json() == {
        "instance_id": iid, "count": 3, "head_seq": 2, "head_hash": entries[2]["hash"],
        "first_recorded_at": "2030-06-01T00:00:00.000Z", "last_recorded_at": "2030-06-01T00:02:00.000Z"}


def test_timestamps_are_utc_whatever_the_host_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        moment = datetime(2026, 1, 2, 5, 4, 5, 678_901, tzinfo=timezone(timedelta(hours=2)))
        assert format_timestamp(moment) == "2026-01-02T03:04:05.678Z"
    finally:
        monkeypatch.undo()
        time.tzset()
