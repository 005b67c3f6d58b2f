"""Bad input gets the API's JSON error with the right status, and nothing stored changes."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from process_memory.exceptions import InvalidInput
from process_memory.history.queries import SearchQuery
from process_memory.history.service import HistoryService
from process_memory.observability import JSONFormatter
from tests.backends import holder_of
from tests.recipe import rechain

API = "/api/v1/instances"


@pytest.fixture
def seeded(client: FlaskClient, iid: str) -> dict[str, Any]:
    """An instance with one entry, to check that refused requests leave it alone."""
    return client.post(f"{API}/{iid}/history", json={"type": "t", "data": {"kept": True}}).get_json()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Check the error shape and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    body = response.get_json()["error"]
    assert body["code"] == code and isinstance(body["message"], str) and "details" in body
    return body


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ('{"type": "t", "data": ', "application/json", 400, "bad_request"),
        ('{"type": "t", "data": NaN}', "application/json", 400, "bad_request"),
        (b'{"type": "t", "data": "\xff"}', "application/json", 400, "bad_request"),
        ('{"type": "t", "data": 1e999}', "application/json", 422, "unprocessable_entity"),
        ('{"type": "t", "data": ' + "[" * 300 + "]" * 300 + "}", "application/json", 422, "unprocessable_entity"),
        (
            '{"type": "t", "data": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "application/json",
            422,
            "unprocessable_entity",
        ),
        ('{"type": "t", "data": 1}', "text/plain", 415, "unsupported_media_type"),
        ("type=t&data=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies(
    client: FlaskClient, iid: str, seeded: dict[str, Any], body: Any, content_type: str, status: int, code: str
) -> None:
    assert_error(client.post(f"{API}/{iid}/history", data=body, content_type=content_type), status, code)
    assert client.get(f"{API}/{iid}/head").get_json() == seeded


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": 1}, "type"),
        ({"type": "t"}, "data"),
        ({"type": "", "data": 1}, "type"),
        ({"type": 5, "data": 1}, "type"),
        ({"type": "t", "data": 1, "metadata": [1]}, "metadata"),
        ({"type": "t", "data": 1, "id": "not-a-uuid"}, "id"),
        ({"type": "t", "data": 1, "occurred_at": "yesterday"}, "occurred_at"),
        ({"type": "t", "data": 1, "occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),
        ({"type": "t", "data": 1, "surprise": 1}, "surprise"),
    ],
)
def test_invalid_fields_are_named(
    client: FlaskClient, iid: str, seeded: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    error = assert_error(client.post(f"{API}/{iid}/history", json=body), 422, "unprocessable_entity")
    assert field in error["details"]
    assert client.get(f"{API}/{iid}").get_json()["count"] == 1


def test_metadata_over_the_cap_is_refused(client: FlaskClient, iid: str) -> None:
    response = client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1, "metadata": {"m": "x" * 300_000}})
    assert "metadata" in assert_error(response, 422, "unprocessable_entity")["details"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "direction=sideways", "after=x", "before=-1", "since=yesterday", "colour=red"],
)
def test_invalid_query_parameters(client: FlaskClient, iid: str, query: str) -> None:
    error = assert_error(client.get(f"{API}/{iid}/history?{query}"), 422, "unprocessable_entity")
    assert query.split("=")[0] in error["details"]


def test_body_over_the_limit_is_refused_before_it_is_read(client: FlaskClient, iid: str) -> None:
    # The fixture's limit is 8 MiB. The body is never read: the declared length is enough.
    response = client.post(
        f"{API}/{iid}/history",
        data=b"{}",
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(9 * 1024 * 1024)},
    )
    assert_error(response, 413, "request_entity_too_large")


def test_unknown_paths_methods_and_ids(client: FlaskClient, iid: str) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.get(f"{API}/bad%20id/history"), 404, "not_found")
    assert_error(client.get(f"{API}/{'x' * 129}/head"), 404, "not_found")
    response = client.delete(f"{API}/{iid}/history")
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_openapi_document_and_docs_page(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["info"]["title"] == "process-memory"
    paths = spec["paths"]
    for path in (
        "/api/v1/instances",
        "/api/v1/instances/{instance_id}/history",
        "/api/v1/instances/{instance_id}/history/{seq}",
        "/api/v1/instances/{instance_id}/verify",
        "/api/v1/instances/{instance_id}/head",
        "/api/v1/instances/{instance_id}/first",
    ):
        assert path in paths
    post = paths["/api/v1/instances/{instance_id}/history"]["post"]
    assert {"200", "201", "409", "412", "422"} <= set(post["responses"])
    assert "NewEntry" in spec["components"]["schemas"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"swagger" in page.data.lower()


SECRET = "s3cr3t-payload-7f1e"


@pytest.mark.parametrize(
    ("method", "path", "body", "broken"),
    [
        ("post", "/history", {"type": "t", "data": 1}, "insert_many"),
        ("get", "/head", None, "head"),
        ("get", "/history", None, "find"),
        ("get", "/verify", None, "iter_chain"),
    ],
)
def test_an_unexpected_exception_is_a_json_500_that_leaks_nothing(
    client: FlaskClient,
    store: Any,
    iid: str,
    seeded: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: Any,
    broken: str,
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"driver said: {SECRET}")

    monkeypatch.setattr(holder_of(store, broken), broken, fail)
    with caplog.at_level(logging.DEBUG):
        response = getattr(client, method)(f"{API}/{iid}{path}", json=body)
    error = assert_error(response, 500, "internal_server_error")
    assert error == {"code": "internal_server_error", "message": "internal error", "details": None}
    assert SECRET not in response.get_data(as_text=True)
    logged = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage().split("\n")[0] for record in logged] == ["unexpected RuntimeError"]
    for record in caplog.records:
        # Rendered with a plain formatter too, which would print an attached exception's message.
        assert SECRET not in logging.Formatter().format(record)
        assert SECRET not in JSONFormatter().format(record)


def _exported(client: FlaskClient, iid: str) -> bytes:
    return client.get(f"{API}/{iid}/export").get_data()


def test_each_refusal_says_exactly_what_is_wrong(client: FlaskClient, iid: str, seeded: dict[str, Any]) -> None:
    unknown, other = "unknown-instance", "other-instance"
    client.post(f"{API}/{other}/history", json={"type": "t", "data": 1})
    export = _exported(client, iid)
    lines = export.splitlines()
    first = json.loads(lines[0])
    mixed = rechain([first, {**first, "seq": 1, "id": str(uuid.uuid4()), "instance_id": "elsewhere"}], start=1)
    same = str(uuid.uuid4())
    ndjson = {"content_type": "application/x-ndjson"}
    cases: list[tuple[Any, int, str, str, Any]] = [
        (
            client.get(f"{API}/{iid}/history/1"),
            404,
            "not_found",
            "no entry at this seq",
            {"instance_id": iid, "seq": 1},
        ),
        (client.get(f"{API}/{unknown}/head"), 404, "not_found", "the instance has no entry", {"instance_id": unknown}),
        (client.get(f"{API}/{unknown}/first"), 404, "not_found", "the instance has no entry", {"instance_id": unknown}),
        (client.get(f"{API}/{unknown}"), 404, "not_found", "unknown instance", {"instance_id": unknown}),
        (client.get(f"{API}/{unknown}/verify"), 404, "not_found", "unknown instance", {"instance_id": unknown}),
        (client.get(f"{API}/{unknown}/export"), 404, "not_found", "unknown instance", {"instance_id": unknown}),
        (
            client.post(f"{API}/{unknown}/clone", json={"to": "t1"}),
            404,
            "not_found",
            "unknown instance",
            {"instance_id": unknown},
        ),
        (
            client.post(f"{API}/{iid}/clone", json={"to": "t2", "upto": 1}),
            404,
            "not_found",
            "no entry at upto: it is past the head",
            {"upto": 1, "head": 0},
        ),
        (
            client.post(f"{API}/{iid}/clone", json={"to": other}),
            409,
            "conflict",
            "the target instance has entries that are not this copy's",
            {"instance_id": other},
        ),
        (
            client.post(f"{API}/{other}/import", data=export, **ndjson),
            409,
            "conflict",
            "the target instance has entries that are not this copy's",
            {"instance_id": other},
        ),
        (
            client.post(f"{API}/t3/import", data=lines[0].replace(b'"kept":true', b'"kept":false'), **ndjson),
            422,
            "unprocessable_entity",
            "the imported history breaks its chain",
            {"seq": 0},
        ),
        (
            client.post(f"{API}/t3/import", data=b"\n".join(json.dumps(e).encode() for e in mixed), **ndjson),
            422,
            "unprocessable_entity",
            "the imported history mixes instances",
            {"seq": 1},
        ),
        (
            client.post(f"{API}/{iid}/history", json={"type": "t", "data": 2, "id": seeded["id"]}),
            409,
            "conflict",
            "an entry with this id exists with other content",
            {"id": seeded["id"], "seq": 0},
        ),
        (
            client.post(
                f"{API}/{iid}/history/batch",
                json={"entries": [{"type": "t", "data": 1, "id": same}, {"type": "t", "data": 2, "id": same}]},
            ),
            409,
            "conflict",
            "an id appears twice in the batch with other content",
            {"id": same},
        ),
        (
            client.post(f"{API}/{iid}/history", json={"type": "t", "data": 2}, headers={"If-Match": '"5"'}),
            412,
            "precondition_failed",
            "the instance's head has moved",
            {"head": 0},
        ),
        (
            client.post(f"{API}/{iid}/history", json={"type": "t", "data": 2, "metadata": {"m": "x" * 262_144}}),
            422,
            "unprocessable_entity",
            "metadata too large",
            {"metadata": ["at most 262144 bytes of JSON"]},
        ),
    ]
    for response, status, code, message, details in cases:
        assert (response.status_code, response.get_json()["error"]) == (
            status,
            {"code": code, "message": message, "details": details},
        )
    assert client.get(f"{API}/{iid}/head").get_json() == seeded
    assert [client.get(f"{API}/{target}").status_code for target in ("t1", "t2", "t3")] == [404, 404, 404]


def test_the_service_checks_a_search_cursor_itself(service: HistoryService) -> None:
    # The API's schema refuses a malformed cursor first; the service does not rely on it.
    with pytest.raises(InvalidInput) as refused:
        service.reader.search(SearchQuery(after="2031-01-01T00:00:00.000Z,a,b"))
    assert (refused.value.message, refused.value.details) == (
        "invalid cursor",
        {"after": ["pass the next cursor of the previous page"]},
    )
