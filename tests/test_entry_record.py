"""The entry record (history/entry.py) and the hash recipe docs/storage.md publishes agree."""

from __future__ import annotations

from process_memory.history.entry import HASHED_FIELDS, SHOWN_FIELDS
from tests.recipe import HASHED


def test_the_hash_covers_exactly_the_documented_fields_in_the_documented_order() -> None:
    # A field added to the record is hashed by default: the published recipe must name it too.
    assert HASHED_FIELDS == HASHED


def test_every_field_but_the_hash_itself_and_the_data_is_hashed() -> None:
    # data is covered through data_sha256; an unhashed field could be altered without verify noticing.
    assert SHOWN_FIELDS - set(HASHED_FIELDS) == {"hash", "data"}
