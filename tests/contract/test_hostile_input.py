"""Hostile input, on every backend: each case is a 4xx in the JSON error shape with its exact code, and
nothing stored changes. Within the documented limits the backends accept and refuse the same inputs.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.exceptions import NotFound
from werkzeug.test import EnvironBuilder, run_wsgi_app

API = "/api/v1/instances"
BIG = "9" * 4301
#: One instance with two entries and a state, made before each case; a case must leave it as it was.
SEED = "seed-instance"
LEGACY = "7b5b1f1e-0000-4000-8000-000000000001"
NO_SUCH_ROUTE = NotFound.description


def _seed(client: FlaskClient) -> None:
    for number in range(2):
        assert client.post(f"{API}/{SEED}/history", json={"type": "t", "data": number}).status_code == 201
    assert client.put(f"{API}/{SEED}/state", json={"v": 1}).status_code == 201


def _snapshot(client: FlaskClient) -> Any:
    instances = client.get(f"{API}?limit=1000").get_json()
    exports = {i["instance_id"]: client.get(f"{API}/{i['instance_id']}/export").data for i in instances["items"]}
    return instances, exports, client.get(f"{API}/{SEED}/state").get_json()


def _raw(body: str) -> dict[str, Any]:
    return {"data": body.encode("utf-8", "surrogatepass"), "content_type": "application/json"}


CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "big int in append",
        "POST",
        f"{API}/{SEED}/history",
        _raw(f'{{"type":"t","data":{BIG}}}'),
        422,
        "an integer is too long",
    ),
    (
        "big int in a batch",
        "POST",
        f"{API}/{SEED}/history/batch",
        _raw(f'{{"entries":[{{"type":"t","data":{BIG}}}]}}'),
        422,
        "an integer is too long",
    ),
    ("big int in state", "PUT", f"{API}/{SEED}/state", _raw(f'{{"v":{BIG}}}'), 422, "an integer is too long"),
    (
        "big int in a legacy commit",
        "POST",
        f"/{LEGACY}/commit",
        _raw(f'{{"event":{{"name":"e","x":{BIG}}}}}'),
        422,
        "an integer is too long",
    ),
    (
        "big int in clone upto",
        "POST",
        f"{API}/{SEED}/clone",
        _raw(f'{{"to":"c1","upto":{BIG}}}'),
        422,
        "an integer is too long",
    ),
    (
        "lone surrogate in type",
        "POST",
        f"{API}/{SEED}/history",
        _raw('{"type":"\\ud800","data":1}'),
        422,
        "a string is not valid Unicode",
    ),
    (
        "lone surrogate in data",
        "POST",
        f"{API}/{SEED}/history",
        _raw('{"type":"t","data":["\\udfff"]}'),
        422,
        "a string is not valid Unicode",
    ),
    (
        "occurred_at past year 1 in UTC",
        "POST",
        f"{API}/{SEED}/history",
        _raw('{"type":"t","data":1,"occurred_at":"0001-01-01T00:00:00+14:00"}'),
        422,
        "invalid request",
    ),
    (
        "until past 9999 in UTC",
        "GET",
        f"{API}/{SEED}/history?until=9999-12-31T23:59:59-14:00",
        {},
        422,
        "invalid request",
    ),
    (
        "since past 9999 in a search",
        "GET",
        "/api/v1/history?since=9999-12-31T23:59:59-14:00",
        {},
        422,
        "invalid request",
    ),
    ("NUL in type", "POST", f"{API}/{SEED}/history", _raw('{"type":"a\\u0000b","data":1}'), 422, "invalid request"),
    ("NUL in ?type=", "GET", f"{API}/{SEED}/history?type=a%00b", {}, 422, "invalid request"),
    ("NUL in /instances?after=", "GET", f"{API}?after=a%00", {}, 422, "invalid request"),
    ("NUL in a path", "GET", "/inputs/a%00b/" + LEGACY, {}, 400, "the path holds NUL (%00)"),
    (
        "a duplicate key",
        "POST",
        f"{API}/{SEED}/history",
        _raw('{"type":"t","data":{"a":1,"a":2}}'),
        422,
        "an object repeats a key",
    ),
    (
        "a number that would become 0.0",
        "POST",
        f"{API}/{SEED}/history",
        _raw('{"type":"t","data":1e-400}'),
        422,
        "a number cannot be kept exactly",
    ),
    (
        "more digits than a double",
        "POST",
        f"{API}/{SEED}/history",
        _raw('{"type":"t","data":0.30000000000000001}'),
        422,
        "a number cannot be kept exactly",
    ),
    ("an id of dots", "POST", f"{API}/.../history", _raw('{"type":"t","data":1}'), 404, NO_SUCH_ROUTE),
    ("a clone into dots", "POST", f"{API}/{SEED}/clone", _raw('{"to":".."}'), 422, "invalid request"),
    ("a fractional upto", "POST", f"{API}/{SEED}/clone", _raw('{"to":"c2","upto":1.5}'), 422, "invalid request"),
    ("a text upto", "POST", f"{API}/{SEED}/clone", _raw('{"to":"c3","upto":"1"}'), 422, "invalid request"),
    (
        "a big int in an import",
        "POST",
        f"{API}/imp/import",
        {"data": f'{{"seq":{BIG}}}\n'.encode(), "content_type": "application/x-ndjson"},
        422,
        "line 1: an integer is too long",
    ),
    (
        "an import with a repeated key",
        "POST",
        f"{API}/imp/import",
        {"data": b'{"seq":0,"seq":1}\n', "content_type": "application/x-ndjson"},
        422,
        "line 1: an object repeats a key",
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "status", "message"), CASES, ids=[case[0] for case in CASES]
)
def test_hostile_input_is_refused_and_changes_nothing(
    client: FlaskClient, name: str, method: str, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    _seed(client)
    before = _snapshot(client)
    response = client.open(path, method=method, **body)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.content_type == "application/json"
    error = response.get_json()["error"]
    assert error["message"] == message and set(error) == {"code", "message", "details"}
    assert _snapshot(client) == before


def test_a_chunked_body_over_the_limit_is_refused_whole(client: FlaskClient) -> None:
    _seed(client)
    before = _snapshot(client)
    limit = client.application.config["SETTINGS"].max_request_bytes
    lines = b"".join(json.dumps({"seq": n, "pad": "x" * 1000}).encode() + b"\n" for n in range(limit // 1000 + 10))
    environ = EnvironBuilder(
        f"{API}/imp-{uuid.uuid4().hex[:6]}/import",
        method="POST",
        input_stream=io.BytesIO(lines),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/x-ndjson"},
    ).get_environ()
    del environ["CONTENT_LENGTH"]  # streamed: the length is not known ahead, as with a chunked body
    # Straight to the WSGI app: the test client would measure the stream and give it a length.
    body, status, _ = run_wsgi_app(client.application, environ, buffered=True)
    assert status == "413 REQUEST ENTITY TOO LARGE"
    assert json.loads(b"".join(body))["error"]["code"] == "request_entity_too_large"
    assert _snapshot(client) == before
