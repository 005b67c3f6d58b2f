"""Paging's rules on their own (process_memory/paging.py): pages, one item fetched beyond the page, cursors."""

from __future__ import annotations

import pytest

from process_memory.exceptions import InvalidInput
from process_memory.paging import (
    Page,
    SearchPosition,
    decode_event_cursor,
    decode_search_cursor,
    encode_search_cursor,
    fetch_page,
)

REFUSAL = ("invalid cursor", {"after": ["pass the next cursor of the previous page"]})


def test_a_mapped_page_keeps_its_cursor() -> None:
    assert Page([1, 2], "next").map(str) == Page(["1", "2"], "next")
    assert Page([], None).map(str) == Page([], None)


def test_a_page_asks_for_one_item_more_and_ends_without_an_empty_page() -> None:
    asked: list[int] = []

    def fetch(n: int) -> list[int]:
        asked.append(n)
        return list(range(4))[:n]

    assert fetch_page(fetch, 2, lambda item: f"after {item}") == Page([0, 1], "after 1")
    assert fetch_page(fetch, 4, lambda item: f"after {item}") == Page([0, 1, 2, 3], None)
    assert fetch_page(fetch, 3, lambda item: f"after {item}") == Page([0, 1, 2], "after 2")
    assert asked == [3, 5, 4]


def test_a_search_cursor_names_its_position_and_a_seq_past_the_largest_is_the_largest() -> None:
    position = SearchPosition("2031-01-01T00:00:00.000Z", "run-1", 7)
    assert encode_search_cursor(position) == "2031-01-01T00:00:00.000Z,run-1,7"
    assert decode_search_cursor("2031-01-01T00:00:00.000Z,run-1,7") == position
    assert decode_search_cursor("2031-01-01T00:00:00.000Z,run-1,9999999999999999999").seq == 2**63 - 1


@pytest.mark.parametrize(
    "cursor",
    ["nope", "2031-01-01T00:00:00.000Z,run-1", "2031-01-01T00:00:00.000Z,run,1,7", "x2031-01-01T00:00:00.000Z,a,1"],
)
def test_a_malformed_search_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_search_cursor(cursor)
    assert (refused.value.message, refused.value.details) == REFUSAL


def test_an_event_cursor_names_a_date_key_and_an_instance() -> None:
    assert decode_event_cursor(None) is None
    assert decode_event_cursor("2031-01-02T03:04:05.000006|run-1") == ("2031-01-02T03:04:05.000006", "run-1")
    for malformed in (
        "nope",
        "2031-01-02T03:04:05|run-1",
        "2031-01-02T03:04:05.000006|",
        "2031-01-02T03:04:05.000006|a|b",
    ):
        with pytest.raises(InvalidInput) as refused:
            decode_event_cursor(malformed)
        assert (refused.value.message, refused.value.details) == REFUSAL
