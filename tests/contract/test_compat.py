"""The original service's routes, on every history backend."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient


@pytest.fixture
def memory_document(iid: str) -> dict[str, Any]:
    """A realistic memory document of about 1.5 MB: an event with a large payload, a dataset of thousands of rows."""
    rng = random.Random(7)
    rows = [
        {
            "id": f"UGE{n:05d}",
            "nome": f"Unidade geradora {n}",
            "potencia": round(rng.uniform(1, 700), 3),
            "dataInicio": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T00:00:00",
            "estados": [{"codigo": rng.choice(["LIG", "DES", "MAN"]), "horas": rng.randint(0, 24)} for _ in range(3)],
        }
        for n in range(6500)
    ]
    return {
        "event": {
            "name": "calculate.tax.request",
            "scope": "execution",
            "instanceId": iid,
            "timestamp": "2026-11-25T10:00:00.000",
            "owner": "sager",
            "tag": "t-1",
            "branch": "master",
            "reference_date": "2026-11-01",
            "reproduction": {},
            "reprocessing": {},
            "payload": {
                "Eventos": [{"id": n, "tipo": "EOC", "valor": rng.random()} for n in range(1000)],
                "$meta.info": {"source": "ons"},
            },
        },
        "map": {"name": "sager", "content": {"usina": {"fields": {"id": {"column": "id_usina"}}}}},
        "dataset": {"entities": {"unidadegeradora": rows}},
        "fork": None,
        "processId": "7a1c1f50-0000-4000-8000-000000000001",
        "systemId": "ec498841-0000-4000-8000-000000000002",
        "instanceId": iid,
        "eventOut": "calculate.tax.done",
        "commit": True,
    }


def test_a_large_memory_document_comes_back_unchanged(
    client: FlaskClient, iid: str, memory_document: dict[str, Any]
) -> None:
    import json

    assert 1_300_000 < len(json.dumps(memory_document)) < 2_000_000
    response = client.post(f"/memory/{iid}/commit", json=memory_document)
    assert response.status_code == 201 and response.get_json()["seq"] == 0
    assert client.get(f"/memory/{iid}/head").get_json() == memory_document
    entry = client.get(f"/api/v1/instances/{iid}/head").get_json()
    assert entry["type"] == "calculate.tax.request"
    assert entry["metadata"] == {
        "memory_document": 1,
        **{k: memory_document[k] for k in ("processId", "systemId", "instanceId", "eventOut", "commit")},
    }


def test_memory_routes(client: FlaskClient, iid: str) -> None:
    assert client.post(f"/memory/{iid}", json={"processId": "p"}).status_code == 201  # no event: type "memory"
    assert client.post(f"/memory/{iid}/commit", json={"event": {"name": "e2"}}).status_code == 201
    assert client.get(f"/api/v1/instances/{iid}/first").get_json()["type"] == "memory"
    assert client.get(f"/memory/{iid}").get_json() == [{"event": {"name": "e2"}}, {"processId": "p"}]
    assert client.get(f"/memory/{iid}/head").get_json() == {"event": {"name": "e2"}}
    assert client.post(f"/memory/{iid}", data=b"", content_type="application/json").status_code == 400
    assert client.post(f"/memory/{iid}", json=[1, 2]).status_code == 422
    assert client.get(f"/memory/{uuid.uuid4()}/head").status_code == 404
    assert client.get("/memory/not-a-uuid/head").status_code == 404


def test_instance_routes(client: FlaskClient, backend: Any, iid: str) -> None:
    for n in range(3):
        client.post(f"/memory/{iid}", json={"n": n})
    assert iid in client.get("/instances").get_json()
    # The database the fixture's settings name: pm_test for the Mongo fixtures; SQL keeps the original's default.
    database = backend.settings.docdb_database_name
    assert database in ("pm_test", "platform")
    assert client.get(f"/instances/{iid}").get_json() == {"full_name": f"{database}.{iid}", "aprox_doc_count": 3}
    assert client.get(f"/instances/{uuid.uuid4()}").get_json()["aprox_doc_count"] == 0
    assert client.get(f"/{iid}/head").status_code == 404  # documents without an event: no current memory
    assert client.get(f"/{iid}/first").get_json() == [{"n": 0}]
    assert client.get(f"/{iid}/first/2").get_json() == [{"n": 0}, {"n": 1}]
    assert client.get(f"/{iid}/first/5000").get_json() == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert client.get(f"/{iid}/history").get_json() == [{"n": 0}, {"n": 1}, {"n": 2}]
    empty = str(uuid.uuid4())
    assert client.get(f"/{empty}/first").get_json() == [] and client.get(f"/{empty}/history").get_json() == []


def test_reproduction_clones(client: FlaskClient, iid: str) -> None:
    for n in range(3):
        client.post(f"/memory/{iid}", json={"n": n})
    target = str(uuid.uuid4())
    response = client.post(f"/reproduction/{iid}/{target}")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == client.get(f"/api/v1/instances/{target}/head").get_json()["id"]
    assert client.get(f"/{target}/history").get_json() == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert client.post(f"/reproduction/{iid}/{target}").status_code == 200  # the same copy again: a retry
    assert client.post(f"/reproduction/{uuid.uuid4()}/{uuid.uuid4()}").status_code == 404


def test_compatibility_routes_are_marked_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    compat = {path for path in spec["paths"] if not path.startswith("/api/v1")}
    assert compat == {
        "/memory/{instance_id}",
        "/memory/{instance_id}/commit",
        "/memory/{instance_id}/head",
        "/instances",
        "/instances/{instance_id}",
        "/{instance_id}",
        "/{instance_id}/commit",
        "/{instance_id}/create",
        "/{instance_id}/head",
        "/{instance_id}/first",
        "/{instance_id}/event",
        "/{instance_id}/first/{count}",
        "/{instance_id}/history",
        "/clone/{source}/{target}",
        "/{source}/{target}/clone",
        "/reproduction/{source}/{target}",
        "/event/{instance_id}",
        "/payload/{instance_id}",
        "/fork/{instance_id}",
        "/entities/{instance_id}",
        "/maps/{instance_id}",
        "/instance_filter/{instance_id}",
        "/inputs/{type_name}/{instance_id}",
        "/instances/reprocessable/byentities",
        "/instances/bytags",
        "/events/between/dates",
        "/current/events/between/dates",
        "/instance_filters/byinstanceids",
        "/instance_filters/byinstanceidsandtypes",
    }
    for path in compat:
        operations = [op for method, op in spec["paths"][path].items() if method in ("get", "post")]
        assert operations
        for operation in operations:
            assert operation["deprecated"] is True and operation["tags"] in (["compatibility"], ["platform"])
