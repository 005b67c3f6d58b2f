"""Reprocessing and lineage: who read what, a process's events by date, and the latest reprocess of an original."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from pymongo.errors import AutoReconnect

from process_memory.history.sql import SQLHistoryStore
from process_memory.history.store import HistoryStore
from process_memory.memory import memory_index_of, queries
from tests.memories import OTHER_TAG, PROCESS, TABLE, TABLES_BY_TAG, TAG, Scenario, event, memory, read_by_query

LINEAGE = "/api/v1/lineage"


@pytest.fixture
def scenario(client: FlaskClient) -> Scenario:
    """Three readers (a and b read U1 and U2 from TABLE under TAG; another reads U1 under another tag), a writer."""
    found = Scenario()
    for iid, document in [*found.readers(), found.update_of_u1()]:
        assert client.post(f"/{iid}/commit", json=document).status_code == 201
    return found


def _post(client: FlaskClient, route: str, body: dict[str, Any]) -> tuple[int, Any]:
    # As the clients send it: json.dumps keeps the key order (Flask's test client would sort the keys).
    response = client.post(route, data=json.dumps(body), content_type="application/json")
    if response.status_code == 200:
        assert response.headers["Content-Type"] == "application/json"
    return response.status_code, response.get_json()


def by_entities(client: FlaskClient, entities: list[Any], tables: dict[str, list[str]] = TABLES_BY_TAG) -> Any:
    """What ``POST /instances/reprocessable/byentities`` answers: a sorted list, or None for its 404."""
    status, body = _post(
        client, "/instances/reprocessable/byentities", {"entities": entities, "tables_grouped_by_tags": tables}
    )
    return sorted(body) if status == 200 else None if status == 404 else pytest.fail(f"{status} {body}")


def by_tags(client: FlaskClient, tables: dict[str, list[str]] = TABLES_BY_TAG) -> Any:
    """What ``POST /instances/bytags`` answers, sorted by id; None for its 404."""
    status, body = _post(client, "/instances/bytags", {"tables_grouped_by_tags": tables})
    return sorted(body, key=lambda item: item["id"]) if status == 200 else None


def current_events(client: FlaskClient, begin: str, end: str | None) -> Any:
    """What ``POST /current/events/between/dates`` answers, sorted by id; None for its 404."""
    body = {"process_id": PROCESS, "date_begin_validity": begin, "date_end_validity": end}
    status, found = _post(client, "/current/events/between/dates", body)
    return sorted(found, key=lambda item: item["id"]) if status == 200 else None


def test_readers_of_an_entity_are_found_by_id_tag_and_table(client: FlaskClient, scenario: Scenario) -> None:
    assert by_entities(client, ["U1"]) == [scenario.a]
    assert by_entities(client, ["U1", "U2"]) == sorted([scenario.a, scenario.b])
    assert by_entities(client, ["U1"], {OTHER_TAG: [TABLE]}) == [scenario.other_tag]
    assert by_entities(client, ["U1"], {TAG: ["tb_other"]}) is None  # another table
    assert by_entities(client, ["U9"]) is None
    assert by_entities(client, [1]) is None  # ids match as JSON values: 1 is not "1"
    assert by_tags(client) == sorted(
        [{"id": scenario.a, "tag": TAG}, {"id": scenario.b, "tag": TAG}], key=lambda item: item["id"]
    )
    assert by_tags(client, {"no-such-tag": [TABLE]}) is None
    assert by_tags(client, {}) is None and by_entities(client, ["U1"], {}) is None and by_entities(client, []) is None
    assert by_tags(client, {TAG: []}) is None


def test_only_reads_by_query_in_execution_scope_count(client: FlaskClient, scenario: Scenario) -> None:
    # The writer holds U1 with changeTrack "update": a write, not a read.
    assert scenario.writer not in (by_entities(client, ["U1"], {TAG: [TABLE]}) or [])
    iid = str(uuid.uuid4())
    reproduction = memory(iid, event(iid, scope="reproduction"))
    client.post(f"/{iid}/commit", json=reproduction)
    assert iid not in by_entities(client, ["U1"])


def test_replacing_the_entities_replaces_the_reads(client: FlaskClient, scenario: Scenario) -> None:
    client.post(
        f"/{scenario.a}/commit",
        json={"event": event(scenario.a), "image": TAG, "dataset": {"entities": {"usina": [read_by_query("U7")]}}},
    )
    assert by_entities(client, ["U1"]) is None
    assert by_entities(client, ["U7"]) == [scenario.a]
    client.post(
        f"/{scenario.a}/commit", json={"event": event(scenario.a), "image": TAG, "dataset": {"entities": {"usina": []}}}
    )
    assert by_entities(client, ["U7"]) is None
    assert scenario.a not in [item["id"] for item in by_tags(client)]


def test_the_latest_reprocess_of_an_original_replaces_it_in_every_query(
    client: FlaskClient, scenario: Scenario
) -> None:
    later = str(uuid.uuid4())  # after the window: it must stay out
    later_event = event(later, referenceDate="2026-06-01T00:00:00Z")
    client.post(f"/{later}/commit", json=memory(later, later_event, dataset={"entities": {}}))
    window = ("2026-01-01T00:00:00.000", "2026-01-31T00:00:00.000")
    before = current_events(client, *window)
    assert before == sorted(
        [{"id": scenario.a, "event": "calcular.taxa.request"}, {"id": scenario.b, "event": "calcular.taxa.request"}],
        key=lambda item: item["id"],
    )
    for newer in (False, True):
        iid, document = scenario.reprocess_of_a(newer)
        client.post(f"/{iid}/commit", json=document)
        latest = iid
    # The older reprocess was posted first; posting order does not decide, the event's timestamp does.
    older, document = scenario.reprocess_of_a(newer=False)
    client.post(f"/{older}/commit", json=document)
    assert by_entities(client, ["U1"]) == [latest]
    assert by_entities(client, ["U1", "U2"]) == sorted([latest, scenario.b])
    assert {item["id"] for item in by_tags(client)} == {latest, scenario.b}
    assert {item["id"] for item in current_events(client, *window)} == {latest, scenario.b}
    # The plain window does not substitute, as the original did not.
    status, plain = _post(
        client,
        "/events/between/dates",
        {"process_id": PROCESS, "date_begin_validity": window[0], "date_end_validity": window[1]},
    )
    assert (status, plain) == (200, [scenario.a, scenario.b])
    readers = client.get(f"{LINEAGE}/readers", query_string={"tag": TAG, "table": TABLE, "entity": "U1"}).get_json()
    assert readers["items"][0]["instance_id"] == scenario.a
    assert readers["items"][0]["current_instance_id"] == latest


def test_event_windows_are_inclusive_utc_and_ordered_by_reference_date(client: FlaskClient, scenario: Scenario) -> None:
    def events(begin: str, end: str | None) -> Any:
        body = {"process_id": PROCESS, "date_begin_validity": begin, "date_end_validity": end}
        return _post(client, "/events/between/dates", body)[1]

    assert events("2026-01-10T00:00:00.000", "2026-01-20T00:00:00.000") == [scenario.a, scenario.b]
    assert events("2026-01-10T00:00:00.001", "2026-01-20T00:00:00.000") == [scenario.b]
    # Read as UTC: 2026-01-09T22:00-02:00 is 2026-01-10T00:00Z, so a is in; the original shifted this by Brazil/East.
    assert events("2026-01-09T22:00:00-02:00", "2026-01-10T00:00:00Z") == [scenario.a]
    assert events("2026-01-11T00:00:00", None) == [scenario.b]  # no end: until now
    assert events("2027-01-01T00:00:00", None) == []
    assert current_events(client, "2027-01-01T00:00:00", None) is None  # the original's 404 for none
    refused = client.post("/events/between/dates", json={"process_id": PROCESS, "date_begin_validity": "soon"})
    assert refused.status_code == 422 and "date_begin_validity" in refused.get_json()["error"]["details"]
    assert client.post("/events/between/dates", json={"process_id": PROCESS}).status_code == 422
    # Before year 1 in UTC: a 422 naming the date, not an overflow.
    too_early = {"process_id": PROCESS, "date_begin_validity": "0001-01-01T00:00:00+14:00"}
    refused = client.post("/events/between/dates", json=too_early)
    assert refused.status_code == 422 and "date_begin_validity" in refused.get_json()["error"]["details"]
    query = {"process_id": PROCESS, "since": "0001-01-01T00:00:00+14:00", "until": "2026-01-01T00:00:00Z"}
    refused = client.get(f"{LINEAGE}/events", query_string=query)
    assert refused.status_code == 422 and "since" in refused.get_json()["error"]["details"]


def test_instance_filters_by_instances_and_types(client: FlaskClient) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    for iid, types in ((a, ["usina", "conjunto"]), (b, ["usina"])):
        filters = [{"type": name, "filter_name": f"by_{name}", "params": {}} for name in types]
        client.post(f"/{iid}/commit", json=memory(iid, instance_filter=filters))
    status, found = _post(client, "/instance_filters/byinstanceids", {"instance_ids": [a, b]})
    assert status == 200 and sorted((f["header"]["instanceId"], f["type"]) for f in found) == sorted(
        [(a, "usina"), (a, "conjunto"), (b, "usina")]
    )
    status, found = _post(
        client, "/instance_filters/byinstanceidsandtypes", {"instances_and_types": {a: ["conjunto"], b: ["usina", "x"]}}
    )
    assert [(f["header"]["instanceId"], f["type"]) for f in found] == [(a, "conjunto"), (b, "usina")]
    assert _post(client, "/instance_filters/byinstanceids", {"instance_ids": [str(uuid.uuid4())]}) == (200, [])
    items = client.get(f"{LINEAGE}/items", query_string={"instance": [a], "type": ["usina"]}).get_json()["items"]
    assert [(f["header"]["instanceId"], f["type"]) for f in items] == [(a, "usina")]


def test_the_original_routes_find_every_reader_and_event_past_a_batch(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "ALL_BATCH", 2)  # five of each: three batches, the last one short
    ids = sorted(str(uuid.uuid4()) for _ in range(5))
    for n, iid in enumerate(ids):
        client.post(f"/{iid}/commit", json=memory(iid, event(iid, referenceDate=f"2026-04-0{n + 1}T00:00:00Z")))
    assert [item["id"] for item in by_tags(client)] == ids
    assert by_entities(client, ["U1"]) == ids
    assert [item["id"] for item in current_events(client, "2026-04-01T00:00:00", "2026-04-30T00:00:00")] == ids


def test_lineage_pages_walk_every_reader_and_event_with_cursors(client: FlaskClient) -> None:
    ids = sorted(str(uuid.uuid4()) for _ in range(5))
    for n, iid in enumerate(ids):
        client.post(f"/{iid}/commit", json=memory(iid, event(iid, referenceDate=f"2026-04-0{n + 1}T00:00:00Z")))
    seen, link = [], f"{LINEAGE}/readers?tag={TAG}&table={TABLE}&limit=2"
    while link:
        response = client.get(link)
        page = response.get_json()
        seen += [item["instance_id"] for item in page["items"]]
        link = response.headers.get("Link", "").partition(">")[0].lstrip("<")
        assert (page["next"] is None) == (not link)
    assert seen == ids
    query = {"process_id": PROCESS, "since": "2026-04-01T00:00:00", "until": "2026-04-30T00:00:00", "limit": 3}
    first = client.get(f"{LINEAGE}/events", query_string=query).get_json()
    second = client.get(f"{LINEAGE}/events", query_string={**query, "after": first["next"]}).get_json()
    assert [item["instance_id"] for item in first["items"] + second["items"]] == ids
    assert second["next"] is None
    assert first["items"][0] == {
        "instance_id": ids[0],
        "current_instance_id": ids[0],
        "process_id": PROCESS,
        "event": "calcular.taxa.request",
        "tag": TAG,
        "scope": "execution",
        "reference_date": "2026-04-01T00:00:00.000000Z",
    }
    for bad in ({"after": "nope"}, {"since": "x"}, {"limit": 0}, {"extra": 1}):
        refused = client.get(f"{LINEAGE}/events", query_string={**query, **bad})
        assert refused.status_code == 422 and "error" in refused.get_json()
    assert client.get(f"{LINEAGE}/readers", query_string={"tag": TAG}).status_code == 422  # no table


def _break_the_view_write(monkeypatch: pytest.MonkeyPatch, store: HistoryStore) -> None:
    """Fail the write of the derived view, as a crash or a lost connection would, right after the entry's."""

    def crash(*args: Any, **kwargs: Any) -> None:
        if isinstance(store, SQLHistoryStore):
            raise sa.exc.OperationalError("UPDATE views", {}, Exception("server closed the connection"))
        raise AutoReconnect("connection closed")

    index = memory_index_of(store)
    monkeypatch.setattr(index, "_store", crash)


def test_a_crash_between_an_entry_and_its_view_is_repaired_by_the_next_read(
    client: FlaskClient, store: HistoryStore, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    iid, document = scenario.reprocess_of_a()
    with monkeypatch.context() as patched:
        _break_the_view_write(patched, store)
        status = client.post(f"/{iid}/commit", json=document).status_code
    stored = client.get(f"/api/v1/instances/{iid}").status_code == 200
    # SQL: one transaction, so neither is stored (503, retry). MongoDB: the entry is, the view is repaired on read.
    assert (status, stored) in ((503, False), (201, True))
    if not stored:
        assert by_entities(client, ["U1"]) == [scenario.a]
        assert client.post(f"/{iid}/commit", json=document).status_code == 201
    assert by_entities(client, ["U1"]) == [iid]  # the query repaired the view first
    assert client.get(f"/event/{iid}").get_json()["reprocessing"]["originalInstanceId"] == scenario.a
    assert memory_index_of(store).load_view(iid).stale is False


def test_a_view_left_behind_is_repaired_when_the_instance_is_read(
    client: FlaskClient, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post(f"/{iid}/commit", json=memory(iid))
    with monkeypatch.context() as patched:
        _break_the_view_write(patched, store)
        client.post(f"/{iid}/commit", json=memory(iid, event(iid, name="second")))
    expected = client.get(f"/api/v1/instances/{iid}").get_json()["count"]
    assert client.get(f"/event/{iid}").get_json()["name"] == ("second" if expected == 2 else "calcular.taxa.request")


def test_the_tables_reads_came_from_each_once_in_order_within_a_prefix(
    client: FlaskClient, store: HistoryStore
) -> None:
    tag, prefix = f"t-{uuid.uuid4().hex[:8]}", f"{uuid.uuid4().hex[:8]}-"  # the platform's ids are UUIDs
    records = [read_by_query("U1", "tb_z"), read_by_query("U2", "tb_a"), read_by_query("U3", "tb_a")]
    tableless = {"id": "U4", "_metadata": {"changeTrack": "query", "type": "usina"}}  # no table: nothing to ask
    for n, dataset in enumerate([records, [tableless], [read_by_query("U5", "tb_m")]]):
        iid = f"{prefix}{n}{str(uuid.uuid4())[10:]}"
        document = memory(iid, event(iid, tag=tag), image=tag, dataset={"entities": {"usina": dataset}})
        assert client.post(f"/{iid}/commit", json=document).status_code == 201
    found = [pair for pair in memory_index_of(store).tag_tables() if pair[0] == tag]
    assert found == [(tag, "tb_a"), (tag, "tb_m"), (tag, "tb_z")]
    assert memory_index_of(store).tag_tables(f"{prefix}2") == [(tag, "tb_m")]  # a key limited to one instance
    assert memory_index_of(store).tag_tables(prefix, 2) == [(tag, "tb_a"), (tag, "tb_m")]  # the first two
