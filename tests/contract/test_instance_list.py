"""The instance list on every backend: by id, by last activity and by size; filtered by the last entry's type and
by whether it records a failure; paged onwards and back; and the types the last entries have.

Four instances under a fresh prefix, appended to at known times (the service's clock is set):

| instance | entries | last entry | last appended |
| --- | --- | --- | --- |
| a | 4 | ``done`` | minute 11 |
| b | 1 | ``load.failure`` (failed by its type) | minute 3 |
| c | 5 | ``step`` with ``{"status": "error"}`` (failed by its data) | minute 8 |
| d | 2 | ``step`` | minute 10 |
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory.services import services

API = "/api/v1/instances"


@pytest.fixture
def listed(app: Flask, client: FlaskClient) -> Iterator[str]:
    """The four instances of the table above, under a prefix of their own; the prefix."""
    prefix = f"ls{uuid.uuid4().hex[:8]}-"
    start = datetime(2031, 1, 1, tzinfo=UTC)
    ticks = iter(range(100))
    context = services(app).history.context
    clock = context.clock
    context.clock = lambda: start + timedelta(minutes=next(ticks))
    plan: list[tuple[str, dict[str, Any]]] = [
        *[("a", {"type": "load", "data": n}) for n in range(3)],
        ("b", {"type": "load.failure", "data": {"rows": 0}}),
        *[("c", {"type": "step", "data": n}) for n in range(4)],
        ("c", {"type": "step", "data": {"status": "error"}}),
        ("d", {"type": "step", "data": 0}),
        ("d", {"type": "step", "data": {"status": "ok"}}),
        ("a", {"type": "done", "data": None}),
    ]
    for name, body in plan:
        assert client.post(f"{API}/{prefix}{name}/history", json=body).status_code == 201
    context.clock = clock
    yield prefix


def _names(page: dict[str, Any], prefix: str) -> list[str]:
    return [item["instance_id"].removeprefix(prefix) for item in page["items"]]


def _list(client: FlaskClient, prefix: str, **asked: Any) -> dict[str, Any]:
    answer = client.get(API, query_string={"prefix": prefix, **asked})
    assert answer.status_code == 200, answer.get_json()
    page: dict[str, Any] = answer.get_json()
    return page


def test_each_order_and_each_filter(client: FlaskClient, listed: str) -> None:
    assert _names(_list(client, listed), listed) == ["a", "b", "c", "d"]  # by id, the default
    assert _names(_list(client, listed, sort="recent"), listed) == ["a", "d", "c", "b"]
    assert _names(_list(client, listed, sort="size"), listed) == ["c", "a", "d", "b"]
    assert _names(_list(client, listed, sort="recent", failed="true"), listed) == ["c", "b"]
    assert _names(_list(client, listed, sort="recent", failed="false"), listed) == ["a", "d"]
    assert _names(_list(client, listed, sort="recent", type="step"), listed) == ["d", "c"]
    assert _names(_list(client, listed, sort="size", type="step", failed="true"), listed) == ["c"]
    assert _names(_list(client, listed, type="load"), listed) == []  # a's first entries were; its last is not
    statuses = {item["instance_id"].removeprefix(listed): item for item in _list(client, listed)["items"]}
    assert {name: (s["head_type"], s["head_failed"], s["count"]) for name, s in statuses.items()} == {
        "a": ("done", False, 4),
        "b": ("load.failure", True, 1),
        "c": ("step", True, 5),
        "d": ("step", False, 2),
    }


def test_pages_go_onwards_and_back_in_every_order(client: FlaskClient, listed: str) -> None:
    expected = {"id": ["a", "b", "c", "d"], "recent": ["a", "d", "c", "b"], "size": ["c", "a", "d", "b"]}
    for sort, order in expected.items():
        pages, after = [], None
        while True:
            page = _list(client, listed, sort=sort, limit=1, **({"after": after} if after else {}))
            pages.append(page)
            after = page["next"]
            if after is None:
                break
        assert [_names(page, listed) for page in pages] == [[name] for name in order], sort
        # Back from the last instance (its cursor written as docs/api.md says), two at a time: the two before it,
        # in the same order, and then the first, with no cursor further back.
        back = _list(client, listed, sort=sort, limit=2, before=_cursor(sort, pages[-1]["items"][0]))
        assert _names(back, listed) == order[1:3], sort
        further = _list(client, listed, sort=sort, limit=2, before=back["next"])
        assert (_names(further, listed), further["next"]) == (order[:1], None), sort


def _cursor(sort: str, item: dict[str, Any]) -> str:
    """An instance's place in a listing, as docs/api.md writes it for each sort."""
    return {
        "id": item["instance_id"],
        "recent": f"{item['last_recorded_at']},{item['instance_id']}",
        "size": f"{item['count']},{item['instance_id']}",
    }[sort]


def test_the_types_last_entries_have(app: Flask, listed: str) -> None:
    reader = services(app).history.reader
    assert reader.head_types(listed, "", 100) == ["done", "load.failure", "step"]
    assert reader.head_types(listed, "", 2) == ["done", "load.failure"]
    assert reader.head_types(listed + "c", "", 100) == ["step"]
    assert reader.head_types(listed, listed + "b", 100) == ["load.failure"]  # a key limited to b's ids
    assert reader.head_types(listed + "a", listed + "b", 100) == []  # prefixes that part ways


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ({"sort": "recent", "after": "b"}, "after"),
        ({"sort": "size", "before": "2031-01-01T00:00:00.000Z,x"}, "before"),
        ({"sort": "size", "after": "12,a,b"}, "after"),
        ({"sort": "name"}, "sort"),
        ({"after": "a", "before": "b"}, "before"),
        ({"failed": "maybe"}, "failed"),
        ({"type": ""}, "type"),
    ],
)
def test_a_bad_sort_cursor_or_filter_is_a_422_naming_it(client: FlaskClient, asked: dict[str, str], field: str) -> None:
    answer = client.get(API, query_string=asked)
    assert answer.status_code == 422
    assert field in answer.get_json()["error"]["details"], answer.get_json()


def test_a_cursor_past_the_largest_count_is_no_error(client: FlaskClient, listed: str) -> None:
    page = _list(client, listed, sort="size", after=f"{10**19 - 1},zzz")
    assert _names(page, listed) == ["c", "a", "d", "b"]  # every count is below it


@pytest.mark.parametrize("sort", ["id", "recent", "size"])
def test_first_appends_that_never_completed_leave_no_page_short(
    client: FlaskClient, raw: Any, listed: str, sort: str
) -> None:
    """A summary made for a first append that never completed is no instance: read past, never shown, and the
    page it would have been on still fills (the listing's end is said only at its end)."""
    for n in range(5):
        raw.insert_placeholder_summary(f"{listed}a{n}")  # between a and b by id
    pages, after = [], None
    while True:
        page = _list(client, listed, sort=sort, limit=2, **({"after": after} if after else {}))
        pages.append(_names(page, listed))
        after = page["next"]
        if after is None:
            break
    expected = {"id": ["a", "b", "c", "d"], "recent": ["a", "d", "c", "b"], "size": ["c", "a", "d", "b"]}[sort]
    assert pages == [expected[:2], expected[2:]]
