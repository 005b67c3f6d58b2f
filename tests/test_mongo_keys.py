"""MongoDB entries keyed by (instance, seq): instances written before the keys still read, append and verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import ReadPreference

from process_memory import create_app
from process_memory.entry import NewEntry
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.service import HistoryService
from process_memory.services import services
from tests.conftest import HISTORY_BACKENDS, _make_store

MONGO_BACKENDS = [name for name in HISTORY_BACKENDS if name not in ("sqlite", "postgresql")]


@pytest.fixture(params=MONGO_BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryService]:
    """A history service over each MongoDB-wire backend."""
    store, settings = _make_store(request, request.param, tmp_path)
    yield services(create_app(settings, history_store=store)).history
    store.close()


def _unkey(store: MongoHistoryStore, instance_id: str, seq: int) -> None:
    """Make the entry at ``seq`` what a release before the keys wrote: the same fields under an ObjectId."""
    entries = store.collections.entries()
    doc: dict[str, Any] = entries.find_one({"instance_id": instance_id, "seq": seq})
    entries.delete_one({"_id": doc["_id"]})
    entries.insert_one({**doc, "_id": ObjectId()})


def _append(service: HistoryService, instance_id: str, n: int) -> list[int]:
    return [service.appender.append_entry(instance_id, NewEntry(type="t", data={"n": k}))[0].seq for k in range(n)]


def test_an_instance_from_before_the_keys_reads_appends_and_verifies(service: HistoryService) -> None:
    store = service.store
    assert isinstance(store, MongoHistoryStore)
    _append(service, "old", 3)
    for seq in range(3):
        _unkey(store, "old", seq)
    store.collections.summaries().update_one({"_id": "old"}, {"$unset": {"keyed_from": ""}})
    store.entries._keyed.clear()  # as a process started after the upgrade

    assert service.reader.head("old").seq == 2 and service.reader.data_of(service.reader.get_entry("old", 1)) == {
        "n": 1
    }
    assert _append(service, "old", 2) == [3, 4]
    assert store.collections.summaries().find_one({"_id": "old"})["keyed_from"] == 3
    assert store.collections.entries().find_one({"_id": "old/00000000000000000004"})["seq"] == 4
    assert service.reader.head("old").seq == 4 and service.reader.data_of(service.reader.get_entry("old", 0)) == {
        "n": 0
    }
    assert [entry.seq for entry in store.entries.iter_chain("old")] == [0, 1, 2, 3, 4]
    assert service.verifier.verify("old").ok


def test_an_entry_an_older_release_wrote_past_the_summary_does_not_stall_appends(service: HistoryService) -> None:
    store = service.store
    assert isinstance(store, MongoHistoryStore)
    _append(service, "mixed", 3)
    # During an upgrade, a process of the release before the keys appended seq 2 and stopped before the summary.
    _unkey(store, "mixed", 2)
    store.collections.summaries().update_one({"_id": "mixed"}, {"$set": {"head_seq": 1, "count": 2}})

    assert _append(service, "mixed", 1) == [3]
    assert service.reader.head("mixed").seq == 3
    assert service.verifier.verify("mixed").ok


def test_reading_a_seq_is_a_lookup_by_key(service: HistoryService) -> None:
    store = service.store
    assert isinstance(store, MongoHistoryStore)
    _append(service, "keyed", 2)
    keys = [doc["_id"] for doc in store.collections.entries().find({"instance_id": "keyed"}).sort("seq", 1)]
    assert keys == ["keyed/00000000000000000000", "keyed/00000000000000000001"]
    assert store.entries.get_by_seq("keyed", 5) is None and store.entries.get_by_seq("nobody", 0) is None
    assert store.entries.head("nobody") is None


def test_every_read_goes_to_the_primary_whatever_the_uri_asks(request: pytest.FixtureRequest) -> None:
    engine = request.getfixturevalue("ferretdb")
    store = MongoHistoryStore(f"{engine.uri}&readPreference=secondaryPreferred", "pm_test", "t_read_preference")
    try:
        assert store.collections.database().read_preference == ReadPreference.PRIMARY
        assert store.collections.client.get().read_preference == ReadPreference.PRIMARY
    finally:
        store.close()
