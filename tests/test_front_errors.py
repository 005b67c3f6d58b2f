"""What gunicorn and nginx answer themselves, before the app runs, is the API's JSON error too; logs stay JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.keys import KeySet, write_test_keys
from tests.services import GunicornServer, NginxServer, nginx_binary, raw_exchange, unavailable

#: The body limit of both servers here.
MAX_BODY = 4096

#: Requests neither server lets through, with the status each gets.
REFUSED = [
    (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
        431,
        "request_header_fields_too_large",
    ),
]


@dataclass
class Front:
    """Where the first server a client meets listens, and the keys behind it."""

    port: int
    keys: KeySet


@pytest.fixture(params=["gunicorn", "nginx"])
def front(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Front]:
    """gunicorn alone, or nginx in front of it; both with a body limit of MAX_BODY."""
    keys = write_test_keys(tmp_path)
    if request.param == "nginx" and nginx_binary() is None:
        unavailable("nginx not installed (Debian package nginx; .ci/run installs it)")
    env = {
        "PROCESS_MEMORY_API_KEYS_FILE": str(keys.path),
        "PROCESS_MEMORY_PROXY_HOPS": "1",
        "PROCESS_MEMORY_MAX_REQUEST_BYTES": str(MAX_BODY),
    }
    gunicorn = GunicornServer(env, workers=1, cwd=tmp_path)
    gunicorn.start()
    nginx = None
    if request.param == "nginx":
        nginx = NginxServer(tmp_path / "nginx", f"127.0.0.1:{gunicorn.port}", MAX_BODY)
        nginx.start()
    yield Front(nginx.port if nginx else gunicorn.port, keys)
    if nginx:
        nginx.stop()
    gunicorn.stop()


def test_refusals_before_the_app_are_json(front: Front) -> None:
    for raw, status, code in REFUSED:
        answered, headers, body = raw_exchange(front.port, raw)
        assert answered == status, raw[:40]
        assert headers["Content-Type"] == "application/json"
        error = json.loads(body)["error"]
        assert error["code"] == code and "a" * 100 not in error["message"] and "b" * 100 not in error["message"]


def test_every_log_line_is_json_whatever_the_path(tmp_path: Path) -> None:
    server = GunicornServer({}, workers=1, cwd=tmp_path)  # the access log is on
    server.start()
    try:
        for path in (b'/a\\b"c', b"/api/v1/instances/x\\y/head", b"/%ff%00\\u0000"):
            status, _, _ = raw_exchange(
                server.port, b"GET " + path + b' HTTP/1.1\r\nHost: x\r\nX-Request-ID: \\"\r\n\r\n'
            )
            assert status in (400, 404)
    finally:
        server.stop()
    lines = server.log_path.read_text().splitlines()
    assert len(lines) > 5
    for line in lines:
        json.loads(line)  # raises on a line that is not JSON


def _chunked(method: str, path: str, key: str, content_type: str, body: bytes) -> bytes:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 500]), body[i : i + 500]) for i in range(0, len(body), 500))
    return (
        (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        + chunks
        + b"0\r\n\r\n"
    )


def test_a_chunked_body_past_the_limit_is_refused_not_cut(front: Front) -> None:
    """Six NDJSON lines, the limit falling after the fourth: 413, and none of them stored."""
    key = front.keys.secrets["all"]
    lines = b"".join(json.dumps({"seq": n, "pad": "p" * 900}).encode() + b"\n" for n in range(6))
    assert 4 * len(lines) // 6 < MAX_BODY < len(lines)
    status, _, body = raw_exchange(
        front.port, _chunked("POST", "/api/v1/instances/cut/import", key, "application/x-ndjson", lines)
    )
    assert status == 413 and json.loads(body)["error"]["code"] == "request_entity_too_large"
    value = json.dumps({"v": "s" * MAX_BODY}).encode()
    status, _, body = raw_exchange(
        front.port, _chunked("PUT", "/api/v1/instances/cut/state", key, "application/json", value)
    )
    assert status == 413 and json.loads(body)["error"]["code"] == "request_entity_too_large"
    for path in ("/api/v1/instances/cut", "/api/v1/instances/cut/state"):
        status, _, _ = raw_exchange(
            front.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        )
        assert status == 404
