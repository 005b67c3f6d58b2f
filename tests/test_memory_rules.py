"""The memory document's rules and the view fold, as pure functions: each refusal, each index key, each default."""

from __future__ import annotations

from typing import Any

import pytest

from process_memory.exceptions import InvalidInput
from process_memory.memory import queries
from process_memory.memory.document import parse_memory
from process_memory.memory.service import MAX_TYPE_LENGTH, memory_entry
from process_memory.memory.view import fold
from tests.memories import event, memory, read_by_query

IID = "3f1c2a9e-6d7b-4c1e-9a55-0b8f2d7e4c10"


def refusal(body: Any) -> tuple[str, Any]:
    with pytest.raises(InvalidInput) as refused:
        parse_memory(body, IID)
    return refused.value.message, refused.value.details


@pytest.mark.parametrize(
    ("body", "message", "details"),
    [
        ([1], "a memory document is a JSON object", {"body": ["a JSON object"]}),
        ({"event": []}, "event must be an object", {"event": ["an object or null"]}),
        ({"instance_filter": {}}, "instance_filter must be a list", {"instance_filter": ["a list or null"]}),
        ({"map": {"content": []}}, "content must be an object", {"content": ["an object or null"]}),
        (
            {"dataset": {"entities": {"usina": {"id": 1}}}},
            "dataset.entities maps each type to a list",
            {"dataset.entities.usina": ["a list"]},
        ),
        ({"inputs": [1]}, "inputs holds objects", {"inputs": ["a list of objects"]}),
        (
            {"event": {"referenceDate": "soon"}},
            "a date is not an ISO 8601 date",
            {"event.referenceDate": ["an ISO 8601 date, e.g. 2026-01-31T00:00:00.000Z"]},
        ),
        ({"event": {"timestamp": 20260101}}, "a date is not an ISO 8601 date", None),
        (
            {"event": {"timestamp": "0001-01-01T00:00:00+01:00"}},
            "a date is out of range",
            {"event.timestamp": ["a date from year 1 to 9999 in UTC"]},
        ),
    ],
)
def test_each_refusal_says_what_and_where(body: Any, message: str, details: Any) -> None:
    got_message, got_details = refusal(body)
    assert got_message == message
    if details is not None:
        assert got_details == details


@pytest.mark.parametrize(
    ("where", "body"),
    [
        ("processId", lambda key: {"processId": key}),
        ("image", lambda key: {"image": key}),
        ("event.scope", lambda key: {"event": {"scope": key}}),
        ("event.reprocessing.originalInstanceId", lambda key: {"event": {"reprocessing": {"originalInstanceId": key}}}),
        ("dataset.entities[].id", lambda key: {"dataset": {"entities": {"t": [read_by_query(key[:-2])]}}}),
        ("dataset.entities[]._metadata.table", lambda key: {"dataset": {"entities": {"t": [read_by_query("1", key)]}}}),
        ("instance_filter[].type", lambda key: {"instance_filter": [{"type": key}]}),
    ],
)
def test_an_index_key_may_be_128_characters_and_no_more(where: str, body: Any) -> None:
    parse_memory(body("k" * 128), IID)  # an entity id's key is its JSON: two quotes more
    assert refusal(body("k" * 129)) == ("an index key is too long", {where: ["at most 128 characters"]})


@pytest.mark.parametrize(
    ("where", "body"),
    [
        ("processId", {"processId": "a\0b"}),
        ("event.name", {"event": {"name": "a\0b"}}),
        ("event.scope", {"event": {"scope": "\0"}}),
        ("instance_filter[].type", {"instance_filter": [{"type": "t\0"}]}),
    ],
)
def test_an_indexed_string_may_not_hold_nul(where: str, body: Any) -> None:
    assert refusal(body) == ("an indexed string holds NUL", {where: ["must not contain NUL (\\u0000)"]})


def test_an_event_name_is_indexed_at_any_length() -> None:
    assert parse_memory({"event": {"name": "n" * 1000}}, IID).event["name"] == "n" * 1000


def test_keys_that_are_not_text_are_kept_but_never_indexed() -> None:
    the_event = event(IID, scope=5, name=7, reprocessing={"originalInstanceId": 9})
    record = {"id": 1, "_metadata": {"changeTrack": "query", "table": 3, "type": "t"}}
    body = memory(
        IID, the_event, image=4, processId=6, dataset={"entities": {"t": [record]}}, instance_filter=[{"type": 8}]
    )
    post = parse_memory(body, IID)
    assert post.header["image"] == 4 and post.key("image") is None and post.key("processId") is None
    assert [(r.entity, r.image, r.table, r.scope) for r in post.reads] == [("1", None, None, None)]
    assert [item.type for item in post.items] == [None]
    view = fold(None, IID, [(0, "2026-01-01T00:00:00.000Z", post)]).view
    assert (view.name, view.scope, view.original_instance_id) == (None, None, None)


def test_only_records_read_by_query_are_reads_whatever_comes_before_them() -> None:
    records = [
        "not a record",
        {"id": "w", "_metadata": {"changeTrack": "update"}},
        {"_metadata": {"changeTrack": "query"}},
        read_by_query("r"),
    ]
    post = parse_memory(memory(IID, dataset={"entities": {"t": records}}), IID)
    assert [read.entity for read in post.reads] == ['"r"']


def test_defaults_of_a_sparse_document() -> None:
    post = parse_memory({"map": {"name": "app"}, "event": {"timestamp": ""}}, IID)
    assert post.app_name == "app" and post.header["app_name"] == "app" and post.header["timestamp"] is None
    assert not post.replaces_maps and not post.replaces_entities and post.event is not None
    view = fold(None, IID, [(4, "2026-03-01T10:00:00.123Z", post)]).view
    assert view.event_time == "2026-03-01T10:00:00.123000"  # no timestamp: the entry's recorded_at
    assert view.applied_seq == 4 and view.event_seq == 4


def test_an_event_name_is_the_entry_type_when_it_fits() -> None:
    for name, expected in [
        ("e", "e"),
        ("n" * MAX_TYPE_LENGTH, "n" * MAX_TYPE_LENGTH),
        ("n" * (MAX_TYPE_LENGTH + 1), "memory"),
        ("", "memory"),
        (5, "memory"),
    ]:
        assert memory_entry({"event": {"name": name}}).type == expected
    with pytest.raises(InvalidInput) as refused:
        memory_entry([1])
    assert (refused.value.message, refused.value.details) == (
        "a memory document is a JSON object",
        {"body": ["a JSON object"]},
    )


def test_every_page_of_a_keyset_read_is_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "ALL_BATCH", 2)
    items = list(range(5))
    asked: list[Any] = []

    def read(after: Any, limit: int) -> list[int]:
        asked.append(after)
        start = 0 if after is None else after + 1
        return items[start : start + limit]

    assert list(queries._every(read, lambda item: item)) == items
    assert asked == [None, 1, 3]
    asked.clear()
    items[:] = [0, 1]
    assert list(queries._every(read, lambda item: item)) == [0, 1] and asked == [None, 1]
