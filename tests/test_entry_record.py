"""The entry record (entry.py) and the hash recipe docs/storage.md publishes agree."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from process_memory.chain import canonical_json
from process_memory.entry import HASHED_FIELDS, SHOWN_FIELDS, StoredEntry, entry_json, shown_entry
from tests.contract.test_history_properties import exact, json_values
from tests.recipe import HASHED


def test_the_hash_covers_exactly_the_documented_fields_in_the_documented_order() -> None:
    # A field added to the record is hashed by default: the published recipe must name it too.
    assert HASHED_FIELDS == HASHED


def test_every_field_but_the_hash_itself_and_the_data_is_hashed() -> None:
    # data is covered through data_sha256; an unhashed field could be altered without verify noticing.
    # redacted is not hashed either: an erasure keeps every hash, and the redaction entry later in the chain,
    # which both verifiers require, is what vouches for it (tests/contract/test_history_redaction.py).
    assert SHOWN_FIELDS - set(HASHED_FIELDS) == {"hash", "data", "redacted"}


@settings(max_examples=200, deadline=None)
@given(
    data=json_values,
    metadata=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    occurred_at=st.none() | st.just("2026-01-02T03:04:05.678Z"),
    recorded_by=st.none() | st.text(max_size=8),
)
def test_an_entry_rendered_from_its_stored_json_is_the_entry_shown(
    data: Any, metadata: dict[str, Any], occurred_at: str | None, recorded_by: str | None
) -> None:
    stored = StoredEntry(
        instance_id="i",
        seq=3,
        id="e",
        type="t\u00e9\U0001f600",
        occurred_at=occurred_at,
        recorded_at="2026-01-02T03:04:05.678Z",
        recorded_by=recorded_by,
        metadata_json=canonical_json(metadata).decode(),
        size=1,
        data_sha256="0" * 64,
        prev_hash=None,
        hash="1" * 64,
        data_json=canonical_json(data).decode(),
    )
    rendered = entry_json(stored, canonical_json(data))
    assert exact(json.loads(rendered)) == exact(shown_entry(stored, data))
    assert list(json.loads(rendered)) == sorted(SHOWN_FIELDS)  # the keys in the order jsonify gives them
