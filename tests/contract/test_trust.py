"""Trust that does not come by accident, on every backend: reserved provenance, keys limited to a prefix, and
the answers across instances that such a key gets (each case of docs/security.md's threat model that a store
takes part in)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.entry import NewEntry
from process_memory.history.service import HistoryService
from tests.conftest import Backend
from tests.keys import KeySet, write_test_keys
from tests.memories import TABLE, TAG, event, memory, read_by_query

#: The prefix of the test keys' ``prefixed`` key (tests/keys.py), written here again: a test holds its own.
TEAM = "team-a."
#: Ids that look like the team's but are not under its prefix: the prefix inside, a prefix of the prefix,
#: other case, lookalike separators.
NOT_THE_TEAMS = ["x-team-a.1", "team-a", "TEAM-A.1", "Team-a.1", "team-a:1", "team_a.1", "team-b.1", "team-"]
LINEAGE_READERS = "/api/v1/lineage/readers"


@pytest.fixture
def keys(tmp_path: Path) -> KeySet:
    """The test keys: one per scope, ``all``, and ``prefixed`` (every scope, limited to TEAM)."""
    found = write_test_keys(tmp_path)
    assert found.configured()[-1].prefix == TEAM
    return found


@pytest.fixture
def keyed(backend: Backend, keys: KeySet) -> Flask:
    """An app over the backend that requires keys."""
    return create_app(dataclasses.replace(backend.settings, api_keys=keys.configured()), history_store=backend.store)


@pytest.fixture
def as_all(keyed: Flask, keys: KeySet) -> FlaskClient:
    """A client with the key that reaches everything."""
    client = keyed.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = keys.bearer("all")["Authorization"]
    return client


@pytest.fixture
def as_team(keyed: Flask, keys: KeySet) -> FlaskClient:
    """A client with the key limited to TEAM."""
    client = keyed.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = keys.bearer("prefixed")["Authorization"]
    return client


def _memory_entry(iid: str, document: dict[str, Any]) -> dict[str, Any]:
    return {"type": "calcular.taxa.request", "data": document, "metadata": {"memory_document": 1}}


def _post_memory(client: FlaskClient, iid: str, document: dict[str, Any]) -> int:
    return client.post(f"/api/v1/instances/{iid}/history", json=_memory_entry(iid, document)).status_code


def _every_item(client: FlaskClient, url: str, query: Any = None, field: str = "instance_id") -> list[str]:
    """The ``field`` of every item a paged listing answers, following its Link headers page by page."""
    response = client.get(url, query_string=query)
    found: list[str] = []
    while True:
        assert response.status_code == 200, response.get_json()
        found += [item[field] for item in response.get_json()["items"]]
        link = response.headers.get("Link")
        if not link:
            return found
        response = client.get(link[1 : link.index(">")])


def _instances(client: FlaskClient, **query: Any) -> list[str]:
    """Every instance id the instance listing answers."""
    return _every_item(client, "/api/v1/instances", query)


# -- reserved provenance -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["cloned_from", "imported_from", "redacted"])
def test_clients_cannot_write_provenance(as_all: FlaskClient, iid: str, key: str) -> None:
    origin = {"instance_id": "source", "seq": 0, "hash": "0" * 64}
    single = as_all.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": 1, "metadata": {key: origin}})
    assert single.status_code == 422, single.get_json()
    assert key in json.dumps(single.get_json()["error"]["details"])
    entry = {"id": str(uuid.uuid4()), "type": "t", "data": 1, "metadata": {"ok": 1, key: None}}
    batch = as_all.post(f"/api/v1/instances/{iid}/history/batch", json={"entries": [entry]})
    assert batch.status_code == 422, batch.get_json()
    assert as_all.get(f"/api/v1/instances/{iid}").status_code == 404  # nothing stored


@pytest.mark.parametrize("marker", [None, 0, "", {}, [], 1.5, True])
def test_a_memory_marker_is_the_format_or_refused(as_all: FlaskClient, iid: str, marker: Any) -> None:
    entry = {"type": "t", "data": {"a": 1}, "metadata": {"memory_document": marker}}
    assert as_all.post(f"/api/v1/instances/{iid}/history", json=entry).status_code == 422
    assert as_all.get(f"/api/v1/instances/{iid}").status_code == 404
    assert as_all.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": {"a": 1}}).status_code == 201
    assert as_all.get(f"/ui/instances/{iid}/entries/0").status_code == 200


def _plant(service: HistoryService, target: str, provenance: str, origin: dict[str, Any]) -> None:
    """An entry claiming to be a copy, appended past the API: as one written before the keys were reserved."""
    service.appender.append_entries(target, [NewEntry("planted", {"evil": True}, {provenance: origin})])


def test_a_planted_clone_start_does_not_splice_a_clone(as_all: FlaskClient, service: HistoryService) -> None:
    source, target = f"s-{uuid.uuid4()}", f"t-{uuid.uuid4()}"
    for n in range(3):
        assert as_all.post(f"/api/v1/instances/{source}/history", json={"type": "t", "data": n}).status_code == 201
    first = as_all.get(f"/api/v1/instances/{source}/history/0").get_json()
    _plant(service, target, "cloned_from", {"instance_id": source, "seq": 0, "hash": first["hash"], "upto": None})
    response = as_all.post(f"/api/v1/instances/{source}/clone", json={"to": target})
    assert response.status_code == 409, response.get_json()
    assert as_all.get(f"/api/v1/instances/{target}").get_json()["count"] == 1


def test_a_planted_import_start_does_not_splice_an_import(as_all: FlaskClient, service: HistoryService) -> None:
    source, target = f"s-{uuid.uuid4()}", f"t-{uuid.uuid4()}"
    for n in range(3):
        assert as_all.post(f"/api/v1/instances/{source}/history", json={"type": "t", "data": n}).status_code == 201
    export = as_all.get(f"/api/v1/instances/{source}/export").get_data()
    first = json.loads(export.splitlines()[0])
    _plant(service, target, "imported_from", {"instance_id": source, "seq": 0, "hash": first["hash"]})
    response = as_all.post(f"/api/v1/instances/{target}/import", data=export, content_type="application/x-ndjson")
    assert response.status_code == 409, response.get_json()
    assert as_all.get(f"/api/v1/instances/{target}").get_json()["count"] == 1


def test_an_interrupted_clone_still_completes(as_all: FlaskClient, service: HistoryService) -> None:
    """The retry the provenance rule exists for: the target holds the start of this very clone."""
    source, target = f"s-{uuid.uuid4()}", f"t-{uuid.uuid4()}"
    for n in range(3):
        as_all.post(f"/api/v1/instances/{source}/history", json={"type": "t", "data": n})
    service.copier.clone(source, target, upto=0)  # another request's clone: upto differs
    assert as_all.post(f"/api/v1/instances/{source}/clone", json={"to": target}).status_code == 409
    fresh = f"t-{uuid.uuid4()}"
    service.copier.clone(source, fresh)
    assert as_all.post(f"/api/v1/instances/{source}/clone", json={"to": fresh}).status_code == 201
    assert as_all.get(f"/api/v1/instances/{fresh}").get_json()["count"] == 3


# -- a key limited to a prefix ------------------------------------------------------------------------------


def _reprocess_naming(original: str, iid: str) -> dict[str, Any]:
    reprocessing = {"instance_id": iid, "originalInstanceId": original, "from": iid}
    the_event = event(iid, scope="reprocessing", timestamp="2026-03-01T10:00:00.000000Z", reprocessing=reprocessing)
    return memory(iid, the_event)


def test_a_prefixed_key_cannot_name_another_teams_instance_in_a_memory(
    as_all: FlaskClient, as_team: FlaskClient
) -> None:
    victim, attacker = f"team-b.{uuid.uuid4()}", f"{TEAM}{uuid.uuid4()}"
    assert _post_memory(as_all, victim, memory(victim)) == 201
    before = as_all.post(
        "/instances/reprocessable/byentities", json={"entities": ["U1"], "tables_grouped_by_tags": {TAG: [TABLE]}}
    ).get_json()
    assert before == [victim]
    refused = as_team.post(
        f"/api/v1/instances/{attacker}/history", json=_memory_entry(attacker, _reprocess_naming(victim, attacker))
    )
    assert refused.status_code == 403, refused.get_json()
    reproduction = memory(attacker, event(attacker, reproduction={"from": victim, "to": attacker}))
    assert _post_memory(as_team, attacker, reproduction) == 403
    batch = {"entries": [{**_memory_entry(attacker, _reprocess_naming(victim, attacker)), "id": str(uuid.uuid4())}]}
    assert as_team.post(f"/api/v1/instances/{attacker}/history/batch", json=batch).status_code == 403
    assert as_all.get(f"/api/v1/instances/{attacker}").status_code == 404
    after = as_all.post(
        "/instances/reprocessable/byentities", json={"entities": ["U1"], "tables_grouped_by_tags": {TAG: [TABLE]}}
    ).get_json()
    assert after == [victim]
    # Within its own prefix the same post is a reprocess like any other.
    original = f"{TEAM}{uuid.uuid4()}"
    assert _post_memory(as_team, original, memory(original)) == 201
    assert _post_memory(as_team, attacker, _reprocess_naming(original, attacker)) == 201


def test_a_prefixed_key_lists_only_its_prefix(as_all: FlaskClient, as_team: FlaskClient) -> None:
    ours = sorted(f"{TEAM}{n}" for n in range(5))
    for iid in ours + NOT_THE_TEAMS:
        assert as_all.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}).status_code == 201
    assert _instances(as_team, limit=2) == ours
    assert _instances(as_team, limit=2, prefix="team") == ours
    assert _instances(as_team, prefix=f"{TEAM}3") == [f"{TEAM}3"]
    assert _instances(as_team, prefix="team-b") == []
    assert _instances(as_team, after="a", limit=1) == ours
    assert sorted(_instances(as_all)) == sorted(ours + NOT_THE_TEAMS)
    legacy = as_team.get("/instances")
    assert legacy.status_code == 200 and legacy.get_json() == ours
    page = as_team.get("/ui/?prefix=team")
    assert page.status_code == 200
    assert all(iid in page.get_data(as_text=True) for iid in ours)
    assert not any(f">{iid}<" in page.get_data(as_text=True) for iid in NOT_THE_TEAMS)


def test_a_prefixed_key_searches_only_its_prefix(as_all: FlaskClient, as_team: FlaskClient) -> None:
    for iid in [f"{TEAM}1", *NOT_THE_TEAMS, f"{TEAM}2"]:
        as_all.post(f"/api/v1/instances/{iid}/history", json={"type": "found", "data": 1})
    found = _every_item(as_team, "/api/v1/history", {"type": "found", "limit": 1})
    assert sorted(found) == [f"{TEAM}1", f"{TEAM}2"]


def test_a_prefixed_key_sees_only_its_prefix_in_lineage(as_all: FlaskClient, as_team: FlaskClient) -> None:
    ours, theirs = [f"{TEAM}r{n}" for n in range(2)], ["team-b.r", "TEAM-A.r", "x-team-a.r"]
    for iid in ours + theirs:
        assert _post_memory(as_all, iid, memory(iid)) == 201
    seen = _every_item(as_team, LINEAGE_READERS, {"tag": TAG, "table": TABLE, "limit": 1})
    assert seen == ours
    everyone = as_all.get(LINEAGE_READERS, query_string={"tag": TAG, "table": TABLE}).get_json()["items"]
    assert sorted(item["instance_id"] for item in everyone) == sorted(ours + theirs)
    query = {"entities": ["U1"], "tables_grouped_by_tags": {TAG: [TABLE]}}
    assert sorted(as_team.post("/instances/reprocessable/byentities", json=query).get_json()) == ours
    assert sorted(i["id"] for i in as_team.post("/instances/bytags", json=query).get_json()) == ours
    window = {
        "process_id": memory("x")["processId"],
        "date_begin_validity": "2026-01-01",
        "date_end_validity": "2026-12-31",
    }
    assert sorted(as_team.post("/events/between/dates", json=window).get_json()) == ours
    assert sorted(i["id"] for i in as_team.post("/current/events/between/dates", json=window).get_json()) == ours
    events_query = {"process_id": window["process_id"], "since": "2026-01-01", "until": "2026-12-31", "limit": 1}
    assert _every_item(as_team, "/api/v1/lineage/events", events_query) == ours
    # Ids named in a query or a body are each checked.
    assert as_team.get("/api/v1/lineage/items", query_string={"instance": theirs[0]}).status_code == 403
    assert as_team.get("/api/v1/lineage/items", query_string={"instance": ours[0]}).status_code == 200
    assert (
        as_team.post("/instance_filters/byinstanceids", json={"instance_ids": [ours[0], theirs[1]]}).status_code == 403
    )
    by_types = {"instances_and_types": {theirs[2]: ["usina"]}}
    assert as_team.post("/instance_filters/byinstanceidsandtypes", json=by_types).status_code == 403
    ui = as_team.get("/ui/reprocessing", query_string={"tag": TAG, "table": TABLE})
    assert ui.status_code == 200 and all(iid not in ui.get_data(as_text=True) for iid in theirs)


def test_a_reprocess_outside_the_prefix_does_not_replace_the_teams_instance(
    as_all: FlaskClient, as_team: FlaskClient
) -> None:
    """Written before the check (or by a key without a prefix): a team still sees its own instance."""
    original, outsider = f"{TEAM}{uuid.uuid4()}", f"team-b.{uuid.uuid4()}"
    assert _post_memory(as_all, original, memory(original)) == 201
    assert _post_memory(as_all, outsider, _reprocess_naming(original, outsider)) == 201
    query = {"entities": ["U1"], "tables_grouped_by_tags": {TAG: [TABLE]}}
    assert as_all.post("/instances/reprocessable/byentities", json=query).get_json() == [outsider]
    assert as_team.post("/instances/reprocessable/byentities", json=query).get_json() == [original]
    page = as_team.get(LINEAGE_READERS, query_string={"tag": TAG, "table": TABLE}).get_json()["items"]
    assert [(item["instance_id"], item["current_instance_id"]) for item in page] == [(original, original)]


# -- listings answer exactly what was asked ------------------------------------------------------------------


def test_an_instance_prefix_is_case_sensitive(as_all: FlaskClient) -> None:
    for iid in ["CASE-A1", "case-b1", "Case-c1", "case_d1", "caseXd1"]:
        as_all.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": 1})
    assert _instances(as_all, prefix="case-") == ["case-b1"]
    assert _instances(as_all, prefix="CASE-") == ["CASE-A1"]
    assert _instances(as_all, prefix="case_") == ["case_d1"]  # _ is no wildcard
    assert "CASE-A1" not in as_all.get("/ui/?prefix=case-").get_data(as_text=True)


def test_the_next_link_keeps_every_repeated_parameter(as_all: FlaskClient) -> None:
    tables = ["ta", "tb", "tc"]
    for n, table in enumerate(tables):
        iid = f"reader-{n}"
        document = memory(iid, dataset={"entities": {"usina": [read_by_query("U1", table=table)]}})
        assert _post_memory(as_all, iid, document) == 201
    query = [("tag", TAG), *(("table", table) for table in tables), ("limit", "1")]
    response = as_all.get(LINEAGE_READERS, query_string=query)
    link = response.headers["Link"]
    assert all(f"table={table}" in link for table in tables), link
    seen = _every_item(as_all, LINEAGE_READERS, query)
    assert seen == ["reader-0", "reader-1", "reader-2"]


# -- the history browser checks its parameters as the API does -----------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/ui/instances/i-1/entries/99999999999999999999999",
        "/ui/instances/i-1/entries/9223372036854775808",
    ],
)
def test_a_seq_past_what_is_stored_is_a_404_page(as_all: FlaskClient, path: str) -> None:
    as_all.post("/api/v1/instances/i-1/history", json={"type": "t", "data": 1})
    response = as_all.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_the_largest_seq_is_looked_up(as_all: FlaskClient) -> None:
    as_all.post("/api/v1/instances/i-1/history", json={"type": "t", "data": 1})
    assert as_all.get("/ui/instances/i-1/entries/9223372036854775807").status_code == 404
    assert as_all.get("/ui/instances/i-1/entries/0").status_code == 200


@pytest.mark.parametrize(
    "query", ["prefix=%00", "after=%00", "after=a%00b", "prefix=" + "p" * 129, "after=" + "a" * 129]
)
def test_bad_listing_parameters_are_a_422_page(as_all: FlaskClient, query: str) -> None:
    response = as_all.get(f"/ui/?{query}")
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert "\0" not in response.get_data(as_text=True)


# -- every list in a body has a bound, and the bound itself is answered -------------------------------------

#: The documented bounds (docs/api.md, docs/compatibility.md), written here, not read from the schemas.
MOST_TAGS, MOST_TABLES, MOST_ENTITIES, MOST_TYPES = 100, 100, 10_000, 100


def _tables(tags: int, tables: int) -> dict[str, list[str]]:
    return {f"tag-{t}": [f"table-{n}" for n in range(tables)] for t in range(tags)}


@pytest.mark.parametrize(
    ("route", "body", "status"),
    [
        ("/instances/bytags", {"tables_grouped_by_tags": _tables(MOST_TAGS, MOST_TABLES)}, 404),
        ("/instances/bytags", {"tables_grouped_by_tags": _tables(MOST_TAGS + 1, 1)}, 422),
        ("/instances/bytags", {"tables_grouped_by_tags": _tables(1, MOST_TABLES + 1)}, 422),
        (
            "/instances/reprocessable/byentities",
            {"entities": list(range(MOST_ENTITIES)), "tables_grouped_by_tags": _tables(MOST_TAGS, MOST_TABLES)},
            404,
        ),
        (
            "/instances/reprocessable/byentities",
            {"entities": list(range(MOST_ENTITIES + 1)), "tables_grouped_by_tags": _tables(1, 1)},
            422,
        ),
        ("/instance_filters/byinstanceidsandtypes", {"instances_and_types": {"i": ["t"] * MOST_TYPES}}, 200),
        ("/instance_filters/byinstanceidsandtypes", {"instances_and_types": {"i": ["t"] * (MOST_TYPES + 1)}}, 422),
    ],
    ids=["tags", "tags+1", "tables+1", "entities", "entities+1", "types", "types+1"],
)
def test_lists_in_a_body_are_bounded(as_all: FlaskClient, route: str, body: dict[str, Any], status: int) -> None:
    iid = f"{TEAM}reader"
    assert _post_memory(as_all, iid, memory(iid)) == 201
    response = as_all.post(route, json=body)
    assert response.status_code == status, response.get_data()[:300]
    if status == 422:
        assert response.get_json()["error"]["code"] == "unprocessable_entity"


def test_item_types_in_a_query_are_bounded(as_all: FlaskClient) -> None:
    query = [("instance", "i"), *[("type", f"t{n}") for n in range(MOST_TYPES)]]
    assert as_all.get("/api/v1/lineage/items", query_string=query).status_code == 200
    assert as_all.get("/api/v1/lineage/items", query_string=[*query, ("type", "one-more")]).status_code == 422


def test_a_planted_copy_with_the_sources_ids_but_other_data_splices_nothing(
    as_all: FlaskClient, service: HistoryService
) -> None:
    """An import can bring in entries claiming to be a clone's start, ids and hashes copied: their data decides."""
    source, target = f"s-{uuid.uuid4()}", f"t-{uuid.uuid4()}"
    for n in range(3):
        as_all.post(f"/api/v1/instances/{source}/history", json={"type": "t", "data": n})
    first = as_all.get(f"/api/v1/instances/{source}/history/0").get_json()
    origin = {"instance_id": source, "seq": 0, "hash": first["hash"], "upto": None}
    service.appender.append_entries(
        target, [NewEntry("t", "not the source's", {"cloned_from": origin}, id=first["id"])]
    )
    assert as_all.post(f"/api/v1/instances/{source}/clone", json={"to": target}).status_code == 409
    assert as_all.get(f"/api/v1/instances/{target}").get_json()["count"] == 1


def test_every_header_a_proxy_adds_closes_a_keyless_service(client: FlaskClient, iid: str) -> None:
    for header in (
        "Forwarded",
        "X-Forwarded-For",
        "x-forwarded-host",
        "X-Forwarded-Port",
        "X-Forwarded-Prefix",
        "X-Real-IP",
        "Via",
    ):
        refused = client.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}, headers={header: "1"})
        assert refused.status_code == 403, header
        assert client.get("/healthz", headers={header: "1"}).status_code == 403, header
    assert client.get(f"/api/v1/instances/{iid}").status_code == 404  # nothing was stored
    assert client.post(f"/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}).status_code == 201


def test_a_prefixed_key_imports_only_its_own_instances_exports(as_all: FlaskClient, as_team: FlaskClient) -> None:
    theirs, ours = f"team-b.{uuid.uuid4()}", f"{TEAM}{uuid.uuid4()}"
    as_all.post(f"/api/v1/instances/{theirs}/history", json={"type": "t", "data": 1})
    export = as_all.get(f"/api/v1/instances/{theirs}/export").get_data()
    refused = as_team.post(f"/api/v1/instances/{ours}/import", data=export, content_type="application/x-ndjson")
    assert refused.status_code == 403
    assert as_all.get(f"/api/v1/instances/{ours}").status_code == 404
