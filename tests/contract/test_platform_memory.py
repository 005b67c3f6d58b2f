"""The original service's current memory: posts, merge rules, reads and clone, on every history backend."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory.exceptions import Conflict
from process_memory.history.queries import InstanceQuery
from process_memory.history.store import HistoryStore
from process_memory.memory import memory_index_of
from process_memory.services import services
from tests.backends import holder_of
from tests.memories import PROCESS, TAG, event, memory, read_by_query

FIXTURE = Path(__file__).parent.parent / "fixtures" / "original_process_memory.json"


def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    return response.get_json()


def test_the_original_fixture_comes_back_value_for_value(client: FlaskClient, iid: str) -> None:
    document = json.loads(FIXTURE.read_text())
    assert _json(client.post(f"/{iid}/create", json={"event": document["event"]}), 201)["seq"] == 0
    assert _json(client.post(f"/{iid}/commit", json=document), 201)["seq"] == 1
    head = _json(client.get(f"/{iid}/head"))
    entities = {name: records for name, records in document["dataset"]["entities"].items() if records}
    assert head["dataset"]["entities"] == entities == _json(client.get(f"/entities/{iid}"))
    assert head["map"] == {"content": document["map"]["content"], "name": document["map"]["name"]}
    assert _json(client.get(f"/maps/{iid}")) == document["map"]["content"]
    assert head["event"]["payload"] == document["event"]["payload"] == _json(client.get(f"/payload/{iid}"))
    for field in ("processId", "systemId", "eventOut", "commit"):
        assert head[field] == document[field]
    assert head["instanceId"] == iid  # the URL's instance, not the body's
    assert head["fork"] == {
        **{k: v for k, v in document["fork"].items() if v},
        "header": head["event"]["header"],
    }
    assert head["event"]["timestamp"] == "2019-09-11T17:06:06.096137Z"
    assert head["event"]["header"]["timestamp"] == "2019-09-11T17:06:06.096137"


def test_a_memory_is_created_with_its_event_and_committed_whole(client: FlaskClient, iid: str) -> None:
    created = _json(client.post(f"/{iid}", json={"event": event(iid)}), 201)
    assert set(created) == {"instance_id", "seq", "id"}
    first = _json(client.get(f"/{iid}/head"))
    assert first["dataset"] == {"entities": {}} and first["map"] == {"content": {}, "name": None}
    assert first["commit"] is False and first["instance_filter"] == [] and first["fork"] is None

    filters = [{"type": "usina", "filter_name": "byId", "app": "sager", "branch": "master", "params": {"id": "U1"}}]
    inputs = [{"id": "in-1", "_metadata": {"type": "usina"}}, {"id": "in-2", "_metadata": {"type": "conjunto"}}]
    document = memory(iid, instance_filter=filters, inputs=inputs)
    _json(client.post(f"/{iid}/commit", json={"json": document}), 201)  # the wrapped form
    head = _json(client.get(f"/{iid}/head"))
    the_event = _json(client.get(f"/event/{iid}"))
    assert head["event"] == the_event
    assert the_event["referenceDate"] == "2026-01-10T00:00:00.000000Z"
    assert the_event["header"] == {
        "instanceId": iid,
        "processId": PROCESS,
        "systemId": document["systemId"],
        "eventOut": "calcular.taxa.done",
        "commit": True,
        "version": "v1",
        "image": TAG,
        "referenceDate": "2026-01-10T00:00:00",
        "scope": "execution",
        "reproduction": {},
        "reprocessing": {},
        "tag": TAG,
        "app_name": "SAGER",
        "timestamp": "2026-01-05T10:00:00",
    }
    assert (the_event["image"], the_event["reprocessing"], the_event["instanceId"]) == (TAG, {}, iid)
    assert head["dataset"]["entities"] == {"usina": [read_by_query("U1")]}  # the empty type is left out
    assert head["commit"] is True and head["processId"] == PROCESS
    header = the_event["header"]
    assert head["instance_filter"] == [{**filters[0], "header": header}]
    assert _json(client.get(f"/instance_filter/{iid}")) == head["instance_filter"]
    assert _json(client.get(f"/inputs/usina/{iid}")) == [{**inputs[0], "header": header}]
    assert _json(client.get(f"/inputs/nothing/{iid}")) == []


def test_the_parts_of_successive_posts_merge_as_the_original_merged_them(client: FlaskClient, iid: str) -> None:
    filters = [{"type": "usina", "filter_name": "f1"}]
    fork = {"name": "f", "description": "first", "status": "open"}
    client.post(f"/{iid}/commit", json=memory(iid, fork=fork, instance_filter=filters))
    second = memory(
        iid,
        event(iid, name="second.event", referenceDate="2026-03-01T00:00:00Z"),
        fork={"description": "second", "status": "", "owner": "ana"},  # empty fields leave the old ones
        map={"name": "SAGER", "content": {}},  # empty content: the maps stay
        dataset={"entities": {"conjunto": [{"id": "C1"}]}},  # entities carried: replaced
        instance_filter=[{"type": "conjunto", "filter_name": "f2"}],  # appended
    )
    client.post(f"/{iid}/commit", json=second)
    head = _json(client.get(f"/{iid}/head"))
    assert head["event"]["name"] == "second.event"
    assert head["event"]["referenceDate"] == "2026-03-01T00:00:00.000000Z"
    assert {k: v for k, v in head["fork"].items() if k != "header"} == {
        "name": "f",
        "description": "second",
        "status": "open",
        "owner": "ana",
    }
    assert head["map"]["content"] == memory(iid)["map"]["content"]
    assert head["dataset"]["entities"] == {"conjunto": [{"id": "C1"}]}
    assert [item["filter_name"] for item in head["instance_filter"]] == ["f1", "f2"]
    # A post without an event leaves the event; one with no entities leaves them.
    client.post(f"/{iid}", json={"dataset": {"entities": {}}, "fork": {"status": "closed"}})
    after = _json(client.get(f"/{iid}/head"))
    assert after["event"] == head["event"] and after["dataset"] == head["dataset"]
    assert after["fork"]["status"] == "closed"


def test_a_post_the_original_could_not_store_is_refused_and_nothing_changes(client: FlaskClient, iid: str) -> None:
    client.post(f"/{iid}/commit", json=memory(iid))
    before = _json(client.get(f"/{iid}/head"))
    for body, where in [
        ({"event": "started"}, "event"),
        ({"event": event(iid, referenceDate="yesterday")}, "event.referenceDate"),
        ({"event": event(iid, timestamp="0001-01-01T00:00:00+01:00")}, "event.timestamp"),
        ({"event": event(iid), "dataset": {"entities": {"usina": {"id": 1}}}}, "dataset.entities.usina"),
        ({"event": event(iid), "instance_filter": ["f"]}, "instance_filter"),
        ({"event": event(iid), "map": []}, "map"),
        ({"event": event(iid), "image": "t" * 129}, "image"),
        ({"json": [1]}, "body"),
    ]:
        refused = client.post(f"/{iid}/commit", json=body)
        assert refused.status_code == 422, body
        assert where in refused.get_json()["error"]["details"], refused.get_json()
    assert client.post(f"/{iid}", data=b"", content_type="application/json").status_code == 400
    assert client.post(f"/{iid}", data=b"{", content_type="application/json").status_code == 400
    assert _json(client.get(f"/{iid}/head")) == before
    assert _json(client.get(f"/api/v1/instances/{iid}"))["count"] == 1


@pytest.mark.parametrize(
    "route",
    [
        "/{}/head",
        "/event/{}",
        "/payload/{}",
        "/fork/{}",
        "/entities/{}",
        "/maps/{}",
        "/instance_filter/{}",
        "/inputs/usina/{}",
        "/api/v1/instances/{}/memory",
    ],
)
def test_an_unknown_instance_is_a_404(client: FlaskClient, route: str) -> None:
    unknown = str(uuid.uuid4())
    response = client.get(route.format(unknown))
    assert response.status_code == 404
    assert response.get_json()["error"] == {
        "code": "not_found",
        "message": "the instance has no memory",
        "details": {"instance_id": unknown},
    }


def test_a_memory_without_an_event_has_no_head_event_or_payload(client: FlaskClient, iid: str) -> None:
    client.post(f"/{iid}", json={"fork": {"status": "open"}})
    for route in (f"/{iid}/head", f"/event/{iid}", f"/payload/{iid}"):
        error = client.get(route).get_json()["error"]
        assert (error["message"], error["details"]) == ("the instance's memory has no event", {"instance_id": iid})
    assert _json(client.get(f"/fork/{iid}"))["status"] == "open"


def test_an_instance_without_memory_entries_has_no_memory(client: FlaskClient, iid: str) -> None:
    client.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": {"event": {"name": "not a memory"}}})
    assert client.get(f"/{iid}/head").status_code == 404
    assert client.get(f"/fork/{iid}").status_code == 404


def test_clone_starts_the_target_with_the_current_memory(client: FlaskClient, iid: str) -> None:
    client.post(f"/{iid}/commit", json=memory(iid, inputs=[{"id": "i", "_metadata": {"type": "usina"}}]))
    client.post(f"/{iid}/commit", json=memory(iid, event(iid, name="second")))
    target = str(uuid.uuid4())
    cloned = _json(client.post(f"/clone/{iid}/{target}"), 201)
    assert cloned["seq"] == 0 and cloned["instance_id"] == target and uuid.UUID(cloned["id"]).version == 5
    source, copy = _json(client.get(f"/{iid}/head")), _json(client.get(f"/{target}/head"))
    assert copy["event"]["reproduction"] == {"from": iid, "to": target}
    assert _json(client.get(f"/api/v1/instances/{target}/first"))["data"]["instanceId"] == target
    assert copy["event"]["name"] == "second" and copy["instanceId"] == target
    assert copy["event"]["header"]["image"] == TAG and copy["event"]["header"]["version"] == "v1"
    for part in ("map", "dataset", "processId", "systemId", "eventOut", "commit"):
        assert copy[part] == source[part]
    assert _json(client.get(f"/inputs/usina/{target}"))[0]["id"] == "i"
    assert _json(client.post(f"/clone/{iid}/{target}"), 201)["id"] == cloned["id"]  # sent again: a safe retry
    client.post(f"/{target}/commit", json=memory(target, event(target, name="its own")))
    taken = {
        "code": "conflict",
        "message": "the target instance already has entries",
        "details": {"instance_id": target},
    }
    refused = client.post(f"/clone/{iid}/{target}")  # the target went its own way
    assert (refused.status_code, refused.get_json()["error"]) == (409, taken)
    other = str(uuid.uuid4())
    client.post(f"/api/v1/instances/{other}/history", json={"type": "t", "data": 1})
    refused = client.post(f"/clone/{iid}/{other}")  # a first entry of its own, and nothing after it
    assert (refused.status_code, refused.get_json()["error"]) == (409, {**taken, "details": {"instance_id": other}})
    assert client.post(f"/{uuid.uuid4()}/{target}/clone").status_code == 404  # a source without memory
    client.post(f"/{iid}/commit", json=memory(iid, event(iid, name="third")))
    assert client.post(f"/clone/{iid}/{target}").status_code == 409  # the target has another first entry now
    node_target = str(uuid.uuid4())
    assert _json(client.post(f"/{iid}/{node_target}/clone"), 201)["instance_id"] == node_target


def test_the_node_routes_read_documents_from_either_end(client: FlaskClient, iid: str) -> None:
    for n in range(5):
        client.post(f"/{iid}", json={"event": event(iid, name=f"e{n}")})
    names = lambda documents: [document["event"]["name"] for document in documents]  # noqa: E731
    assert names(_json(client.get(f"/{iid}/first"))) == ["e0"]
    assert [e["name"] for e in _json(client.get(f"/{iid}/event"))] == ["e0"]
    assert names(_json(client.get(f"/{iid}/history?first=2"))) == ["e0", "e1"]
    assert names(_json(client.get(f"/{iid}/history?last=2"))) == ["e3", "e4"]
    assert names(_json(client.get(f"/{iid}/history"))) == ["e0", "e1", "e2", "e3", "e4"]
    for query in ("first=1&last=1", "first=0", "last=x", "first=1001"):
        assert client.get(f"/{iid}/history?{query}").status_code == 422
    unknown = uuid.uuid4()
    assert _json(client.get(f"/{unknown}/first")) == [] and _json(client.get(f"/{unknown}/event")) == []


def test_entries_written_through_the_api_are_memories_once_marked(client: FlaskClient, iid: str) -> None:
    entry = {"type": "calcular.taxa.request", "data": memory(iid), "metadata": {"memory_document": 1}}
    assert client.post(f"/api/v1/instances/{iid}/history", json=entry).status_code == 201
    memory_view = _json(client.get(f"/api/v1/instances/{iid}/memory"))
    assert memory_view["event"]["name"] == "calcular.taxa.request" and memory_view["inputs"] == []
    readers = _json(
        client.get("/api/v1/lineage/readers", query_string={"tag": TAG, "table": "tb_usina", "entity": "U1"})
    )
    assert iid in [item["instance_id"] for item in readers["items"]]
    batch = {"entries": [{**entry, "id": str(uuid.uuid4()), "data": memory(iid, event(iid, name="batched"))}]}
    assert client.post(f"/api/v1/instances/{iid}/history/batch", json=batch).status_code == 201
    assert _json(client.get(f"/event/{iid}"))["name"] == "batched"
    for marker in (2, True, "1"):
        bad = {**entry, "metadata": {"memory_document": marker}}
        assert client.post(f"/api/v1/instances/{iid}/history", json=bad).status_code == 422
    bad_document = {**entry, "data": {"event": []}}
    assert client.post(f"/api/v1/instances/{iid}/history", json=bad_document).status_code == 422


def test_a_memory_entry_is_chained_like_any_other(client: FlaskClient, app: Flask, iid: str) -> None:
    client.post(f"/{iid}/commit", json=memory(iid))
    entry = _json(client.get(f"/api/v1/instances/{iid}/head"))
    assert entry["type"] == "calcular.taxa.request" and entry["metadata"]["memory_document"] == 1
    assert entry["data"] == memory(iid)  # unwrapped, as posted
    assert _json(client.get(f"/api/v1/instances/{iid}/verify"))["ok"] is True


def test_reindex_rebuilds_the_same_memory_from_the_chains(
    client: FlaskClient, app: Flask, store: HistoryStore, raw: Any, iid: str
) -> None:
    client.post(f"/{iid}/commit", json=memory(iid, instance_filter=[{"type": "usina", "filter_name": "f"}]))
    client.post(f"/{iid}/commit", json=memory(iid, event(iid, name="second"), fork={"status": "open"}))
    client.post(f"/api/v1/instances/{iid}/history", json={"type": "note", "data": 1})  # not a memory
    routes = [f"/{iid}/head", f"/instance_filter/{iid}", f"/fork/{iid}"]
    before = [_json(client.get(route)) for route in routes]
    readers = _json(client.post("/instances/bytags", json={"tables_grouped_by_tags": {TAG: ["tb_usina"]}}))
    raw.wipe_memory()
    assert client.get(f"/{iid}/head").status_code == 404
    result = app.test_cli_runner().invoke(args=["history", "reindex"])
    assert result.exit_code == 0 and "reindexed 1 instances with a memory" in result.output
    assert [_json(client.get(route)) for route in routes] == before
    assert _json(client.post("/instances/bytags", json={"tables_grouped_by_tags": {TAG: ["tb_usina"]}})) == readers
    one = app.test_cli_runner().invoke(args=["history", "reindex", "--instance", iid])
    assert "a memory" in one.output and [_json(client.get(route)) for route in routes] == before
    assert memory_index_of(store).load_view(iid).applied_seq == 2  # past the entry that is not a memory


def test_reindex_leaves_an_instance_without_memory_alone_and_gives_up_on_one_that_keeps_moving(
    client: FlaskClient, app: Flask, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = f"{iid}-plain"
    client.post(f"/api/v1/instances/{plain}/history", json={"type": "note", "data": 1})
    client.post(f"/{iid}/commit", json=memory(iid))
    memory_service = services(app).memory
    assert memory_service.reindex(plain) is False and memory_index_of(store).load_view(plain) is None
    monkeypatch.setattr(memory_index_of(store), "replace_view", lambda write: False)  # an append got in first
    with pytest.raises(Conflict) as refused:
        memory_service.reindex(iid)
    assert (refused.value.message, refused.value.details) == (
        "appends kept moving the instance while it was reindexed; run it again",
        {"instance_id": iid},
    )


def test_reindex_of_every_instance_walks_every_page(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    remembering, plain = [str(uuid.uuid4()) for _ in range(3)], str(uuid.uuid4())
    for instance in remembering:
        assert client.post(f"/{instance}/commit", json=memory(instance)).status_code == 201
    client.post(f"/api/v1/instances/{plain}/history", json={"type": "note", "data": 1})
    reader = services(app).history.reader
    real, asked = reader.list_instances, []

    def pages_of_two(query: InstanceQuery) -> Any:
        asked.append(query.after)
        assert len(asked) <= 3, "the walk does not end"
        return real(dataclasses.replace(query, limit=2))

    monkeypatch.setattr(reader, "list_instances", pages_of_two)
    assert services(app).memory.reindex_all() == 3
    every = sorted([*remembering, plain])
    assert asked == [None, every[1]]


def test_the_head_reads_each_entry_of_the_memory_once(
    client: FlaskClient, store: HistoryStore, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.post(f"/{iid}/commit", json=memory(iid))  # event, maps and entities in one entry
    read: list[int] = []
    real = store.entries.get_by_seq
    monkeypatch.setattr(
        holder_of(store, "get_by_seq"),
        "get_by_seq",
        lambda instance_id, seq: read.append(seq) or real(instance_id, seq),
    )
    assert _json(client.get(f"/{iid}/head"))["event"]["payload"] == memory(iid)["event"]["payload"]
    assert read == [0]


def test_the_instance_filter_queries_take_at_most_1000_instances(client: FlaskClient) -> None:
    ids = [str(uuid.uuid4()) for _ in range(1001)]
    assert client.post("/instance_filters/byinstanceids", json={"instance_ids": ids[:1000]}).status_code == 200
    assert client.post("/instance_filters/byinstanceids", json={"instance_ids": ids}).status_code == 422
    by_types = {"instances_and_types": {iid: ["t"] for iid in ids}}
    assert client.post("/instance_filters/byinstanceidsandtypes", json=by_types).status_code == 422
