"""The original README's gunicorn commands, run as an operator would: --log-level and --log-file govern every log."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import requests

from tests.services import GunicornServer, raw_exchange, wait_until


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse every line; a line that is not JSON fails the test."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def process_titles(pid: int) -> list[str]:
    """What `ps` shows for the master and its workers (their command lines, as setproctitle rewrote them)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip() for p in [pid, *children]]


def test_errors_only_goes_to_the_file_and_nothing_else_anywhere(tmp_path: Path) -> None:
    # gunicorn wsgi:process_memory_app --name Memory --workers 3 --log-level error --log-file memorylog.txt
    broken = tmp_path / "not-a-database.sqlite3"
    broken.write_bytes(b"this is not an SQLite file " * 400)  # history reads fail; state (files) works
    log_file, console = tmp_path / "memorylog.txt", tmp_path / "console.txt"
    server = GunicornServer(
        {"PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{broken}"},
        cwd=tmp_path,
        log_path=console,
        args=("--name", "Memory", "--workers", "3", "--log-level", "error", "--log-file", "memorylog.txt"),
    )
    server.start()
    try:
        assert server.process is not None
        wait_until(
            lambda: (
                len(process_titles(server.process.pid)) == 4
                and all("[Memory]" in title for title in process_titles(server.process.pid))
            ),
            30,
            "three workers named Memory",
        )
        assert process_titles(server.process.pid)[0].startswith("gunicorn: master [Memory]")
        quiet = (console.read_text(), log_file.read_text())
        assert quiet[1] == "", "info lines reached the error-only file at start-up"

        state = f"{server.url}/api/v1/instances/{uuid.uuid4()}/state"
        assert requests.put(state, json={"step": 1}, timeout=30).status_code == 201
        assert requests.get(state, timeout=30).json() == {"step": 1}
        assert (console.read_text(), log_file.read_text()) == quiet, "a normal request was logged"

        failed = requests.get(f"{server.url}/api/v1/instances/{uuid.uuid4()}/head", timeout=30)
        assert failed.status_code == 503 and failed.json()["error"]["code"] == "store_corrupt"
        assert console.read_text() == quiet[0], "the error reached the console"
        [line] = json_lines(log_file.read_text())
        assert line["level"] == "error" and line["message"].startswith("the history store's data is damaged")
        assert "not an SQLite" not in log_file.read_text()
    finally:
        server.stop()


def test_debug_to_the_console_logs_every_request_as_json(tmp_path: Path) -> None:
    # gunicorn wsgi:process_memory_app --log-level debug --log-file -
    console = tmp_path / "console.txt"
    server = GunicornServer(
        {"PROCESS_MEMORY_STATE_BACKEND": "memory"},
        workers=2,
        cwd=tmp_path,
        log_path=console,
        args=("--log-level", "debug", "--log-file", "-"),
    )
    server.start()
    try:
        iid = str(uuid.uuid4())
        response = requests.post(
            f"{server.url}/api/v1/instances/{iid}/history", json={"type": "t", "data": 1}, timeout=30
        )
        assert response.status_code == 201
        request_id = response.headers["X-Request-ID"]
        wait_until(
            lambda: any(line.get("request_id") == request_id for line in json_lines(console.read_text())),
            10,
            "the request line",
        )
    finally:
        server.stop()
    lines = json_lines(console.read_text())  # gunicorn's own lines are JSON too
    [logged] = [line for line in lines if line.get("request_id") == request_id]
    assert (logged["level"], logged["message"], logged["status"], logged["instance_id"]) == (
        "info",
        "request",
        201,
        iid,
    )
    messages = [line["message"] for line in lines]
    assert any(message.startswith("Booting worker") for message in messages)  # gunicorn's, at info
    assert any(message.startswith("process-memory: history in SQLite file") for message in messages)
    assert not any(line["logger"] == "gunicorn.access" for line in lines)  # the access log is off unless asked


#: Requests gunicorn refuses itself, each carrying a secret where gunicorn's message would quote it.
_REFUSED = [
    # a chunk-size line that is the payload
    b"POST /api/v1/instances/a/history HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"SECRET-1-PAYLOAD\r\n\r\n",
    # a header line without its colon, holding the key
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization Bearer SECRET-2-KEY\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Name: SECRET-3-KEY\r\n\r\n",
    b"POST /healthz HTTP/1.1\r\nHost: x\r\nExpect: SECRET-4-EXPECT\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /SECRET-5-PATH\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\r\n SECRET-6-FOLDED\r\n\r\n",
]


def test_gunicorn_refusals_are_logged_without_what_the_client_sent(tmp_path: Path) -> None:
    console = tmp_path / "console.txt"
    server = GunicornServer({}, workers=1, cwd=tmp_path, log_path=console, args=("--log-level", "debug"))
    server.start()
    try:
        answers = [raw_exchange(server.port, request) for request in _REFUSED]
        wait_until(
            lambda: console.read_text().count("Invalid request from") >= len(_REFUSED), 10, "the refusals' warnings"
        )
    finally:
        server.stop()
    assert [status for status, _, _ in answers] == [400, 400, 400, 417, 400, 400]
    assert all(b"SECRET" not in body and "SECRET" not in str(dict(headers)) for _, headers, body in answers)
    log = console.read_text()
    assert "SECRET" not in log
    warnings = [line["message"] for line in json_lines(log) if line["level"] == "warning"]
    assert "Invalid request from ip=127.0.0.1: InvalidChunkSize (what the client sent is not logged)" in warnings
    assert "Invalid request from ip=127.0.0.1: InvalidHeader (what the client sent is not logged)" in warnings
    assert "Invalid request from ip=127.0.0.1: ExpectationFailed (what the client sent is not logged)" in warnings
