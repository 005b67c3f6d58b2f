"""The rule for an entry that records a failure (history/failures.py), case by case, as README.md states it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from process_memory.chain import canonical_json
from process_memory.entry import StoredEntry
from process_memory.history.failures import entry_records_failure, records_failure


@pytest.mark.parametrize(
    ("entry_type", "data", "metadata", "failed"),
    [
        ("error", None, None, True),
        ("load.failure", {}, {}, True),
        ("Failed", 1, {}, True),
        ("job_errors", None, None, True),
        ("fail", None, None, True),
        ("failover", None, None, False),  # a word that starts like one is not one
        ("terror", None, None, False),
        ("load", {"error": "disk full"}, None, True),
        ("load", {"error": 0}, None, True),  # any value but null or false
        ("load", {"error": None}, None, False),
        ("load", {"error": False}, None, False),
        ("load", {"status": "FAILED"}, None, True),
        ("load", {"status": "partial failure"}, None, True),
        ("load", {"status": "ok"}, None, False),
        ("load", {"status": 500}, None, False),  # a status that is no word names nothing
        ("load", None, {"status": "error"}, True),  # the metadata says it as well as the data
        ("load", None, {"error": {"code": 7}}, True),
        ("load", {"result": {"error": "deep"}}, None, False),  # only the top level counts
        ("load", ["error"], None, False),  # neither is an object
        ("load", "error", "failed", False),
    ],
)
def test_the_rule(entry_type: str, data: Any, metadata: Any, failed: bool) -> None:
    assert records_failure(entry_type, data, metadata) is failed


def _stored(data: Any, metadata: Any = None, **fields: Any) -> StoredEntry:
    text = canonical_json(data).decode()
    values: dict[str, Any] = {
        "instance_id": "run-7",
        "seq": 0,
        "id": "8d0c5a4e-1b7f-4f7e-9c8e-2a1b3c4d5e6f",
        "type": "load",
        "recorded_at": "2026-12-07T00:00:00.000Z",
        "recorded_by": None,
        "occurred_at": None,
        "data_json": text,
        "metadata_json": canonical_json(metadata if metadata is not None else {}).decode(),
        "data_sha256": "0" * 64,
        "prev_hash": None,
        "hash": "0" * 64,
        "size": len(text.encode()),
        "redacted_json": None,
        **fields,
    }
    return StoredEntry(**values)


def test_a_stored_entry_is_read_for_it_only_when_its_data_is_inline_kept_and_small() -> None:
    assert entry_records_failure(_stored({"status": "failed"})) is True
    assert entry_records_failure(_stored({"note": "error", "status": "ok"})) is False  # the word, as a value
    big = {"status": "failed", "pad": "x" * 300_000}
    assert entry_records_failure(_stored(big)) is False  # over 256 KiB: the data is not read
    assert entry_records_failure(_stored(big, {"status": "failed"})) is True  # the metadata still is
    assert entry_records_failure(_stored({"status": "failed"}, data_json=None)) is False  # stored out of line
    erased = _stored({"status": "failed"}, redacted_json=json.dumps({"reason": "gdpr"}))
    assert entry_records_failure(erased) is False
    assert entry_records_failure(_stored({}, type="load.failure")) is True
