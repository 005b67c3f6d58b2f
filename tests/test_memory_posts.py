"""Memory documents as the original's routes take them: parts of any shape the OpenAPI document allows."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from tests.memories import memory


def test_an_input_whose_metadata_is_not_an_object_is_kept_without_a_type(client: FlaskClient) -> None:
    iid = str(uuid.uuid4())
    inputs = [{"_metadata": 5, "v": 1}, {"_metadata": ["x"]}, {"_metadata": {"type": "usina"}}]
    assert client.post(f"/{iid}/commit", json=memory(iid, inputs=inputs)).status_code == 201
    items = client.get("/api/v1/lineage/items", query_string={"instance": iid, "kind": "inputs"}).get_json()
    assert [item.get("_metadata") for item in items["items"]] == [5, ["x"], {"type": "usina"}]


def test_the_documented_memory_body_states_the_parts_the_service_checks(client: FlaskClient) -> None:
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/memory/{instance_id}"]["post"]
    wrapped, document = operation["requestBody"]["content"]["application/json"]["schema"]["anyOf"]
    parts = document["properties"]
    assert (parts["dataset"]["type"], parts["event"]["type"], parts["inputs"]["items"]["type"]) == (
        "object",
        "object",
        "object",
    )
    assert wrapped["properties"]["json"]["properties"]["dataset"] == parts["dataset"]
