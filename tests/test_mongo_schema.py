"""The MongoDB store's indexes: created again after an engine refused them for a while, and a refusal that
persists raised."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import OperationFailure

from process_memory.history.mongo import store as store_module
from process_memory.history.mongo.documents import after_position, beyond
from process_memory.history.mongo.store import MongoHistoryStore
from tests.conftest import _MongomockClient


def _store() -> MongoHistoryStore:
    return MongoHistoryStore("mongodb://mongomock.invalid", "pm_test", "schema", client_factory=_MongomockClient)


def _refused(times: int, calls: list[int]) -> Any:
    create = store_module.create_indexes

    def create_indexes(entries: Any) -> None:
        calls.append(1)
        if len(calls) <= times:
            raise OperationFailure("deadlock detected", code=1)
        create(entries)

    return create_indexes


def test_indexes_refused_a_few_times_are_created_on_a_later_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(store_module, "create_indexes", _refused(3, calls))
    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: None)
    store = _store()
    store.ensure_schema()
    assert len(calls) == 4
    names = {index["name"] for index in store.collections.entries().list_indexes()}
    assert {"instance_seq", "instance_entry_id"} <= names


def test_a_refusal_that_persists_is_raised_after_ten_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(store_module, "create_indexes", _refused(100, calls))
    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: None)
    with pytest.raises(OperationFailure):
        _store().ensure_schema()
    assert len(calls) == 10


def test_a_position_in_tuple_order_is_one_flat_or_of_plain_conditions() -> None:
    assert beyond(("last_recorded_at", "_id"), ("2026-01-01", "b"), "$lt") == {
        "$or": [
            {"last_recorded_at": {"$lt": "2026-01-01"}},
            {"last_recorded_at": "2026-01-01", "_id": {"$lt": "b"}},
        ]
    }
    assert beyond(("_id",), ("b",)) == {"_id": {"$gt": "b"}}
    assert after_position(("t", "i", 3)) == {
        "$or": [
            {"recorded_at": {"$gt": "t"}},
            {"recorded_at": "t", "instance_id": {"$gt": "i"}},
            {"recorded_at": "t", "instance_id": "i", "seq": {"$gt": 3}},
        ]
    }
