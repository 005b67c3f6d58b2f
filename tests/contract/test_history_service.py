"""Rules of the history service that HTTP does not show directly, on every history backend."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory.entry import NewEntry, StoredEntry
from process_memory.exceptions import Conflict, DuplicateEntry, InvalidInput, PreconditionFailed, StoreUnavailable
from process_memory.formats import format_timestamp
from process_memory.history.appending import MAX_APPEND_ATTEMPTS, MAX_METADATA_BYTES
from process_memory.history.queries import HistoryQuery
from process_memory.history.service import HistoryService
from process_memory.history.store import HistoryStore
from process_memory.services import services
from tests.backends import holder_of

API = "/api/v1/instances"


def _count_calls(monkeypatch: pytest.MonkeyPatch, store: HistoryStore, method: str) -> list[Any]:
    calls: list[Any] = []
    real = getattr(holder_of(store, method), method)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(holder_of(store, method), method, counted)
    return calls


def test_a_number_json_cannot_hold_is_refused_and_nothing_stored(service: HistoryService, iid: str) -> None:
    for data in (float("nan"), [1, {"x": float("inf")}]):
        with pytest.raises(InvalidInput) as refused:
            service.appender.append_entry(iid, NewEntry(type="t", data=data))
        assert (refused.value.message, refused.value.details) == (
            "data holds a number JSON cannot represent",
            {"data": ["not finite"]},
        )
    assert service.store.entries.head(iid) is None


def test_metadata_of_exactly_the_limit_is_kept(client: FlaskClient, iid: str) -> None:
    padding = "x" * (MAX_METADATA_BYTES - len('{"m":""}'))
    kept = client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1, "metadata": {"m": padding}})
    assert kept.status_code == 201 and kept.get_json()["metadata"] == {"m": padding}
    refused = client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1, "metadata": {"m": padding + "x"}})
    assert refused.status_code == 422


def test_listeners_hear_of_each_created_entry_once(service: HistoryService, iid: str) -> None:
    heard: list[list[StoredEntry]] = []
    service.notifier.listeners.append(heard.append)
    entry_id = str(uuid.uuid4())
    service.appender.append_entry(iid, NewEntry(type="t", data=1, id=entry_id))
    service.appender.append_entry(iid, NewEntry(type="t", data=1, id=entry_id))  # a safe retry creates nothing
    service.appender.append_entries(iid, [NewEntry(type="t", data=n) for n in range(3)])
    assert [[entry.seq for entry in created] for created in heard] == [[0], [1, 2, 3]]


def test_a_blob_that_cannot_be_deleted_is_left_to_the_sweep(
    service: HistoryService,
    store: HistoryStore,
    iid: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry_id = str(uuid.uuid4())
    real_insert = store.entries.insert_many

    def lose_the_race(entries: list[StoredEntry], fold: Any = None, frontier: Any = None) -> None:
        # Another writer stores the same id with other content first; our large entry's blob is now unused.
        monkeypatch.setattr(holder_of(store, "insert_many"), "insert_many", real_insert)
        service.appender.append_entry(iid, NewEntry(type="t", data="theirs", id=entry_id))
        raise DuplicateEntry(0)

    def refuse(ref: str) -> None:
        raise RuntimeError("the database said no")

    monkeypatch.setattr(holder_of(store, "insert_many"), "insert_many", lose_the_race)
    monkeypatch.setattr(holder_of(store, "delete_blob"), "delete_blob", refuse)
    with caplog.at_level(logging.WARNING, logger="process_memory.history.appending"), pytest.raises(Conflict):
        service.appender.append_entry(iid, NewEntry(type="t", data="x" * 10_000, id=entry_id))
    [warning] = [r for r in caplog.records if r.name == "process_memory.history.appending"]
    assert (warning.levelno, warning.getMessage(), warning.exc_info) == (
        logging.WARNING,
        "could not delete an unused blob; the orphan sweep will",
        None,
    )  # no driver text


def test_a_read_without_a_wait_looks_once(
    service: HistoryService, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks = _count_calls(monkeypatch, store, "find")
    assert service.reader.read_history(iid, HistoryQuery()) == ([], None)
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
        response = client.post(
            f"{API}/{target}/import",
            data=b"\n".join(json.dumps(x).encode() for x in lines),
            content_type="application/x-ndjson",
        )
        assert response.status_code == 422, response.get_data(as_text=True)
        assert response.get_json()["error"]["details"] == {"seq": len(lines) - 1}
    assert client.get(f"{API}/{target}").status_code == 404


def test_an_empty_import_is_refused(service: HistoryService, iid: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.copier.import_entries(iid, [])
    assert (refused.value.message, refused.value.details) == (
        "the import holds no entry",
        {"body": ["one exported entry per line"]},
    )


def test_copies_go_to_the_store_a_hundred_at_a_time(
    client: FlaskClient, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post(
        f"{API}/{iid}/history/batch",
        json={"entries": [{"type": "t", "data": n, "id": str(uuid.uuid4())} for n in range(150)]},
    )
    inserts = _count_calls(monkeypatch, store, "insert_many")
    assert client.post(f"{API}/{iid}/clone", json={"to": str(uuid.uuid4())}).get_json()["count"] == 150
    assert [len(args[0]) for args in inserts] == [100, 50]


def test_a_repaired_summary_takes_its_times_from_the_first_and_last_entries(
    app: Flask, client: FlaskClient, raw: Any, iid: str
) -> None:
    service = services(app).history
    start = datetime(2030, 6, 1, tzinfo=UTC)
    ticks = iter(range(100))
    service.context.clock = lambda: start + timedelta(minutes=next(ticks))
    datas = [0, 1, {"status": "Failed", "rows": 0}]
    entries = [client.post(f"{API}/{iid}/history", json={"type": "t", "data": d}).get_json() for d in datas]
    raw.set_summary_head(iid, 0)  # as if the process died after the first append
    assert client.get(f"{API}/{iid}").get_json() == {
        "instance_id": iid,
        "count": 3,
        "head_seq": 2,
        "head_hash": entries[2]["hash"],
        "first_recorded_at": "2030-06-01T00:00:00.000Z",
        "last_recorded_at": "2030-06-01T00:02:00.000Z",
        "head_type": "t",
        "head_failed": True,  # its data's status names a failure
    }


def test_timestamps_are_utc_whatever_the_host_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        moment = datetime(2026, 1, 2, 5, 4, 5, 678_901, tzinfo=timezone(timedelta(hours=2)))
        assert format_timestamp(moment) == "2026-01-02T03:04:05.678Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_service_checks_instance_ids_itself(service: HistoryService) -> None:
    # The API's URL converter refuses these first; the service does not rely on it.
    for bad in ("", "has space", "x" * 129, "a/b"):
        with pytest.raises(InvalidInput) as refused:
            service.appender.append_entry(bad, NewEntry(type="t", data=1))
        assert (refused.value.message, refused.value.details) == (
            "invalid instance id",
            {"instance_id": ["1-128 characters of A-Z a-z 0-9 . _ : -, not only dots"]},
        )


class _Race:
    """Make the store's first insert fail after storing ``inserted`` entries, perhaps while a rival appends."""

    def __init__(
        self,
        service: HistoryService,
        store: HistoryStore,
        monkeypatch: pytest.MonkeyPatch,
        iid: str,
        inserted: int,
        rival: bool,
    ) -> None:
        self.real_insert = store.entries.insert_many
        self.service, self.store, self.monkeypatch, self.iid = service, store, monkeypatch, iid
        self.inserted, self.rival = inserted, rival
        monkeypatch.setattr(holder_of(store, "insert_many"), "insert_many", self.insert_many)
        monkeypatch.setattr("process_memory.history.appending.time.sleep", lambda seconds: None)

    def insert_many(self, entries: list[StoredEntry], fold: Any = None, frontier: Any = None) -> None:
        self.monkeypatch.setattr(holder_of(self.store, "insert_many"), "insert_many", self.real_insert)
        if self.inserted:
            self.real_insert(entries[: self.inserted])
        if self.rival:
            self.service.appender.append_entry(self.iid, NewEntry(type="rival", data=0))
        raise DuplicateEntry(self.inserted)


@pytest.mark.parametrize("inserted", [0, 1])
def test_a_batch_that_lost_a_race_part_way_reports_each_entry_created_once(
    service: HistoryService, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch, inserted: int
) -> None:
    _Race(service, store, monkeypatch, iid, inserted, rival=True)
    results = service.appender.append_entries(iid, [NewEntry(type="ours", data=n) for n in range(3)])
    assert [(entry.type, entry.seq, created) for entry, created in results] == (
        [("ours", 0, True), ("ours", 2, True), ("ours", 3, True)]
        if inserted
        else [("ours", 1, True), ("ours", 2, True), ("ours", 3, True)]
    )
    assert [e.type for e in service.reader.read_history(iid, HistoryQuery())[0]] == (
        ["ours", "rival", "ours", "ours"] if inserted else ["rival", "ours", "ours", "ours"]
    )


@pytest.mark.parametrize("inserted", [0, 1])
def test_if_match_survives_a_clash_with_nobody_but_not_a_rival(
    service: HistoryService, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch, inserted: int
) -> None:
    # A clash with no rival (our own entries, part-stored): the head the client expected is still ours.
    _Race(service, store, monkeypatch, iid, inserted, rival=False)
    results = service.appender.append_entries(iid, [NewEntry(type="ours", data=n) for n in range(3)], expected_head=-1)
    assert [(entry.seq, created) for entry, created in results] == [(0, True), (1, True), (2, True)]
    other = f"{iid}-2"
    _Race(service, store, monkeypatch, other, inserted, rival=True)
    with pytest.raises(PreconditionFailed) as moved:
        service.appender.append_entries(other, [NewEntry(type="ours", data=n) for n in range(3)], expected_head=-1)
    assert moved.value.details == {"head": inserted}


def test_an_instance_too_contended_to_append_answers_503(
    service: HistoryService, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def always_lose(entries: list[StoredEntry], fold: Any = None, frontier: Any = None) -> None:
        attempts.append(len(entries))
        raise DuplicateEntry(0)

    monkeypatch.setattr(holder_of(store, "insert_many"), "insert_many", always_lose)
    monkeypatch.setattr("process_memory.history.appending.time.sleep", lambda seconds: None)
    with pytest.raises(StoreUnavailable) as refused:
        service.appender.append_entry(iid, NewEntry(type="t", data=1))
    assert (refused.value.message, refused.value.retry_after) == ("too many concurrent appends to this instance", 1)
    assert len(attempts) == MAX_APPEND_ATTEMPTS


def test_a_year_before_1000_keeps_four_digits_and_copies(client: FlaskClient, iid: str) -> None:
    # schemathesis found this: "999-…" was stored, which the clone could not parse back (a 500).
    stored = client.post(
        f"{API}/{iid}/history", json={"type": "t", "data": 1, "occurred_at": "0999-05-06T07:08:09.5+01:00"}
    ).get_json()
    assert stored["occurred_at"] == "0999-05-06T06:08:09.500Z"
    target = str(uuid.uuid4())
    assert client.post(f"{API}/{iid}/clone", json={"to": target}).status_code == 201
    assert client.get(f"{API}/{target}/head").get_json()["occurred_at"] == "0999-05-06T06:08:09.500Z"


def test_an_entry_whose_data_cannot_be_read_back_answers_500_saying_so(
    client: FlaskClient, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post(f"{API}/{iid}/history", json={"type": "t", "data": "x" * 10_000})  # offloaded
    offloaded = store.entries.get_by_seq(iid, 0)
    assert offloaded is not None and offloaded.blob_ref is not None
    without_data = dataclasses.replace(offloaded, blob_ref=None)

    def lose_the_reference() -> None:
        monkeypatch.setattr(holder_of(store, "get_by_seq"), "get_by_seq", lambda *args: without_data)
        monkeypatch.setattr(holder_of(store, "iter_chain"), "iter_chain", lambda instance_id: iter([without_data]))

    damage = {
        "entry has no data": lose_the_reference,
        "the entry's offloaded data cannot be decompressed": lambda: monkeypatch.setattr(
            store.blobs, "get_blob", lambda ref: b"not snappy"
        ),
        "the entry's offloaded data is missing": lambda: store.blobs.delete_blob(offloaded.blob_ref),
    }
    for message, do_damage in damage.items():
        monkeypatch.undo()
        do_damage()
        response = client.get(f"{API}/{iid}/history/0")
        assert (response.status_code, response.get_json()) == (
            500,
            {"error": {"code": "corrupt_entry", "message": message, "details": None}},
        )
        assert client.get(f"{API}/{iid}/verify").get_json() == {"ok": False, "checked": 1, "first_bad_seq": 0}
