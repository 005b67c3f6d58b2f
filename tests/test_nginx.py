"""End to end through nginx and gunicorn, as operators run it: limits, errors, ids, metrics, reloads."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.keys import KeySet, write_test_keys
from tests.services import GunicornServer, NginxServer, http_ok, nginx_binary, raw_exchange, unavailable, wait_until
from tests.test_gunicorn import appending, assert_complete_chain

MAX_BODY = 16 * 1024 * 1024


def behind_nginx(keys: KeySet) -> dict[str, str]:
    """gunicorn's environment behind the rendered site: keys, and nginx's X-Forwarded-For believed."""
    return {"PROCESS_MEMORY_API_KEYS_FILE": str(keys.path), "PROCESS_MEMORY_PROXY_HOPS": "1"}


@dataclass
class Stack:
    """nginx in front of gunicorn (two workers) over the embedded SQLite store, with API keys, as in production."""

    nginx: NginxServer
    gunicorn: GunicornServer
    keys: KeySet

    @property
    def url(self) -> str:
        """Where clients talk to: nginx, with the key in the URL (Basic auth), as a platform client holds it."""
        return self.nginx.url.replace("http://", f"http://ops:{self.keys.secrets['all']}@")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Start gunicorn, then nginx with the rendered site; stop both."""
    if nginx_binary() is None:
        unavailable("nginx not installed (Debian package nginx; .ci/run installs it)")
    keys = write_test_keys(tmp_path)
    gunicorn = GunicornServer(
        {"PROCESS_MEMORY_MAX_REQUEST_BYTES": str(MAX_BODY), "DOCDB_MAX_DATA": "1000000", **behind_nginx(keys)},
        workers=2,
        cwd=tmp_path,
    )
    gunicorn.start()
    nginx = NginxServer(tmp_path / "nginx", f"127.0.0.1:{gunicorn.port}", MAX_BODY)
    nginx.start()
    yield Stack(nginx, gunicorn, keys)
    nginx.stop()
    gunicorn.stop()


def test_a_15_mb_entry_goes_through_and_comes_back_identical(stack: Stack) -> None:
    iid = str(uuid.uuid4())
    data = {"rows": [{"n": n, "text": f"row {n} " + "x" * 140} for n in range(88_000)]}  # 15.1 MB of canonical JSON
    response = requests.post(
        f"{stack.url}/api/v1/instances/{iid}/history", json={"type": "big", "data": data}, timeout=120
    )
    assert response.status_code == 201, response.text[:300]
    assert 15_000_000 < response.json()["size"] < MAX_BODY
    head = requests.get(f"{stack.url}/api/v1/instances/{iid}/head", timeout=120)
    assert head.headers.get("Content-Encoding") == "gzip"  # nginx compresses JSON
    assert head.json()["data"] == data
    assert requests.get(f"{stack.url}/api/v1/instances/{iid}/verify", timeout=120).json()["ok"] is True


def test_a_body_over_the_limit_gets_the_api_error_shape_from_nginx(stack: Stack) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", stack.nginx.port, timeout=30)
    # The declared length is enough for nginx to refuse: the body is never sent.
    connection.putrequest("POST", f"/api/v1/instances/{uuid.uuid4()}/history")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(MAX_BODY + 1))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    body = requests.models.complexjson.loads(response.read())
    assert body["error"]["code"] == "request_entity_too_large" and str(MAX_BODY) in body["error"]["message"]
    connection.close()


def test_gunicorn_down_is_a_json_502_and_recovery_needs_no_nginx_restart(stack: Stack) -> None:
    iid = str(uuid.uuid4())
    requests.post(f"{stack.url}/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}, timeout=30)
    stack.gunicorn.stop()
    down = requests.get(f"{stack.url}/api/v1/instances/{iid}/head", timeout=30)
    assert down.status_code == 502 and down.json()["error"]["code"] == "bad_gateway"
    assert down.headers["Retry-After"] == "5" and down.headers["X-Request-ID"]
    stack.gunicorn.start()
    wait_until(lambda: http_ok(f"{stack.url}/api/v1/instances/{iid}/head"), 30, "recovery through nginx")
    assert requests.get(f"{stack.url}/api/v1/instances/{iid}/head", timeout=30).json()["data"] == 1


def test_the_request_id_reaches_the_app_log_and_comes_back(stack: Stack) -> None:
    iid = str(uuid.uuid4())
    given = requests.post(
        f"{stack.url}/api/v1/instances/{iid}/history",
        json={"type": "t", "data": "secret-ish"},
        headers={"X-Request-ID": "e2e-request-7"},
        timeout=30,
    )
    assert given.headers["X-Request-ID"] == "e2e-request-7"
    made = requests.get(f"{stack.url}/api/v1/instances/{iid}/head", timeout=30)
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])  # nginx's own id

    def logged(request_id: str) -> list[dict[str, object]]:
        return [
            line
            for line in stack.gunicorn.json_lines()
            if line.get("logger") == "process_memory.request" and line.get("request_id") == request_id
        ]

    wait_until(lambda: logged("e2e-request-7") and logged(made.headers["X-Request-ID"]), 10, "the log lines")
    [line] = logged("e2e-request-7")
    assert (line["instance_id"], line["status"], line["outcome"]) == (iid, 201, "ok")
    assert "secret-ish" not in stack.gunicorn.log()  # no payload in any log line
    access = [
        line
        for line in stack.gunicorn.json_lines()
        if line.get("request_id") == "e2e-request-7" and "duration_us" in line
    ]
    assert access and access[0]["status"] == 201


def test_metrics_count_every_request_over_all_workers(stack: Stack) -> None:
    iid = str(uuid.uuid4())
    # The stack is new to this test (its own metrics directory): this is the only append it counts.
    appended = requests.post(
        f"{stack.url}/api/v1/instances/{iid}/history", json={"type": "t", "data": "x" * 2_000_000}, timeout=60
    ).json()

    def read_first(_: int) -> int:
        return requests.get(f"{stack.url}/api/v1/instances/{iid}/first", timeout=30).status_code

    # At once, so nginx opens several upstream connections and both workers answer.
    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(read_first, range(30))) == [200] * 30
    served_by = {
        line["pid"] for line in stack.gunicorn.json_lines() if line.get("path") == f"/api/v1/instances/{iid}/first"
    }
    text = requests.get(f"{stack.url}/metrics", timeout=30).text

    def sample(name: str, **labels: str) -> float:
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+]+)"
        match = re.search(pattern, text)
        return float(match.group(1)) if match else 0.0

    assert (
        sample(
            "process_memory_http_requests_total",
            method="GET",
            route="/api/v1/instances/<iid:instance_id>/first",
            status="200",
        )
        == 30
    )
    assert len(served_by) == 2, "one worker answered everything; the sum over workers was not exercised"
    assert sample("process_memory_appended_entries_total") == 1
    assert appended["size"] == 2_000_002
    assert sample("process_memory_stored_data_bytes_total", where="offloaded") == 2_000_002
    assert sample("process_memory_stored_data_bytes_total", where="inline") == 0
    assert "process_memory_http_request_duration_seconds_bucket" in text


def test_a_graceful_reload_loses_no_acknowledged_append(stack: Stack) -> None:
    iid = str(uuid.uuid4())
    with appending(stack.url, iid, writers=3) as acknowledged:
        for round_no in range(2):
            wait_until(lambda n=round_no: len(acknowledged) >= 30 * (n + 1), 120, "appends before the reload")
            before = set(stack.gunicorn.worker_pids())
            assert stack.gunicorn.process is not None
            os.kill(stack.gunicorn.process.pid, signal.SIGHUP)  # new workers, the old ones finish their requests
            wait_until(
                lambda before=before: (
                    before.isdisjoint(stack.gunicorn.worker_pids()) and len(stack.gunicorn.worker_pids()) == 2
                ),
                60,
                "the workers replaced",
            )
        count = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= count + 30, 120, "appends after the reloads")
    assert_complete_chain(stack.url, iid, acknowledged)


def test_nginx_reaches_gunicorn_on_a_unix_socket(tmp_path: Path) -> None:
    """The production layout: gunicorn on unix:/run/…sock, nginx's upstream pointing at it."""
    if nginx_binary() is None:
        unavailable("nginx not installed (Debian package nginx; .ci/run installs it)")
    socket_path = tmp_path / "gunicorn.sock"
    keys = write_test_keys(tmp_path)
    gunicorn = GunicornServer(behind_nginx(keys), workers=2, cwd=tmp_path, unix_socket=socket_path)
    gunicorn.start()
    nginx = NginxServer(tmp_path / "nginx", f"unix:{socket_path}", MAX_BODY)
    nginx.start()
    try:
        iid, auth = str(uuid.uuid4()), keys.bearer("all")
        created = requests.post(
            f"{nginx.url}/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}, headers=auth, timeout=30
        )
        assert created.status_code == 201 and created.json()["recorded_by"] == "all"
        assert requests.get(f"{nginx.url}/api/v1/instances/{iid}/head", headers=auth, timeout=30).json() == (
            created.json()
        )
        assert requests.get(f"{nginx.url}/readyz", timeout=30).json()["status"] == "ready"
    finally:
        nginx.stop()
        gunicorn.stop()


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, "method_not_allowed"),
        (
            b"POST /api/v1/instances/a/history HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
            b"Connection: close\r\n\r\n0\r\n\r\n",
            501,
            "not_implemented",
        ),
        (b"GET /healthz HTTP/9.1\r\nHost: x\r\nConnection: close\r\n\r\n", 505, "http_version_not_supported"),
    ],
)
def test_what_nginx_refuses_itself_is_our_json(stack: Stack, request_bytes: bytes, status: int, code: str) -> None:
    got, headers, body = raw_exchange(stack.nginx.port, request_bytes)
    assert (got, headers["content-type"]) == (status, "application/json")
    assert json.loads(body)["error"]["code"] == code and headers["x-request-id"]


def test_the_front_page_redirects_relatively_behind_nginx(stack: Stack) -> None:
    status, headers, _ = raw_exchange(
        stack.nginx.port, b"GET / HTTP/1.1\r\nHost: memory.example:8443\r\nConnection: close\r\n\r\n"
    )
    assert (status, headers["location"]) == (302, "/ui/")
    auth = base64.b64encode(f"ops:{stack.keys.secrets['read']}".encode()).decode()
    ui = f"GET /ui HTTP/1.1\r\nHost: memory.example:8443\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
    status, headers, _ = raw_exchange(stack.nginx.port, ui.encode())
    assert status == 200 and "location" not in headers  # /ui is served, not redirected


def test_a_keyless_service_behind_nginx_refuses_everything_that_came_through_it(tmp_path: Path) -> None:
    """`make run` (no keys, loopback, no PROXY_HOPS) with the rendered site in front: closed, not open."""
    if nginx_binary() is None:
        unavailable("nginx not installed (Debian package nginx; .ci/run installs it)")
    gunicorn = GunicornServer({}, workers=1, cwd=tmp_path)
    gunicorn.start()
    nginx = NginxServer(tmp_path / "nginx", f"127.0.0.1:{gunicorn.port}", MAX_BODY)
    nginx.start()
    try:
        iid = str(uuid.uuid4())
        through = requests.post(
            f"{nginx.url}/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}, timeout=30
        )
        assert through.status_code == 403, through.text
        assert "PROCESS_MEMORY_API_KEYS_FILE" in through.json()["error"]["message"]
        for path in ("/api/v1/instances", f"/api/v1/instances/{iid}/head", "/ui/", "/healthz"):
            assert requests.get(f"{nginx.url}{path}", timeout=30).status_code == 403, path
        assert (
            requests.get(f"{gunicorn.url}/api/v1/instances/{iid}/head", timeout=30).status_code == 404
        )  # nothing stored
        spoofed = {"X-Real-IP": "127.0.0.1"}
        assert requests.get(f"{gunicorn.url}/api/v1/instances", headers=spoofed, timeout=30).status_code == 403
        direct = requests.post(
            f"{gunicorn.url}/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}, timeout=30
        )
        assert direct.status_code == 201  # this host's own users still get in, as documented
        assert "requests that came through a proxy" in gunicorn.log()  # said at start-up
    finally:
        nginx.stop()
        gunicorn.stop()
