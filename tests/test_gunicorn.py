"""Real gunicorn workers over real databases: concurrency, worker crashes, the embedded default."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.keys import KeySet
from tests.services import ROOT, GunicornServer, free_port, port_open, threads_at_work, wait_until

SERVER_BACKENDS = ["sqlite", "postgresql", "ferretdb", "ferretdb-pg"]
#: The MongoDB-wire test engines, by the fixture that serves each.
FERRETDB_FIXTURES = {"ferretdb": "ferretdb", "ferretdb-pg": "ferretdb_pg"}


def backend_env(request: pytest.FixtureRequest, name: str, tmp_path: Path) -> dict[str, str]:
    """Environment that points a gunicorn at one backend, in tables or a collection of its own."""
    if name == "sqlite":
        return {"PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{tmp_path / 'history.sqlite3'}"}
    if name == "postgresql":
        return {"PROCESS_MEMORY_DATABASE_URL": request.getfixturevalue("postgres").url}
    return {
        "DOCDB_URI": request.getfixturevalue(FERRETDB_FIXTURES[name]).uri,
        "DOCDB_DATABASE_NAME": "pm_test",
        "DOCDB_COLLECTION": f"t_{uuid.uuid4().hex[:12]}",
    }


def serve_backend(
    request: pytest.FixtureRequest, tmp_path: Path, workers: int, max_data: int, keys: KeySet | None = None
) -> Iterator[GunicornServer]:
    """Run gunicorn over the backend ``request.param`` names until the test is done (requiring ``keys``, if any)."""
    env = {**backend_env(request, request.param, tmp_path), "DOCDB_MAX_DATA": str(max_data)}
    if keys is not None:
        env["PROCESS_MEMORY_API_KEYS_FILE"] = str(keys.path)
    gunicorn = GunicornServer(env, workers=workers, cwd=tmp_path)
    gunicorn.keys = keys
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


@pytest.fixture(params=SERVER_BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GunicornServer]:
    """gunicorn with four workers over one backend; large data offloaded from 2,000 bytes."""
    yield from serve_backend(request, tmp_path, workers=4, max_data=2000)


def append_with_retries(session: requests.Session, base: str, iid: str, body: dict[str, Any]) -> dict[str, Any]:
    """Append, retrying with the same id through 503s and dropped connections: safe by design."""
    for _ in range(50):
        try:
            response = session.post(f"{base}/api/v1/instances/{iid}/history", json=body, timeout=60)
        except requests.ConnectionError:
            continue
        if response.status_code not in (502, 503):
            assert response.status_code in (200, 201), response.text
            return response.json()
    raise AssertionError("append never succeeded")


def read_all(base: str, iid: str) -> list[dict[str, Any]]:
    """Every entry of the instance, page by page."""
    entries: list[dict[str, Any]] = []
    after = -1
    while True:
        page = requests.get(
            f"{base}/api/v1/instances/{iid}/history", params={"after": after, "limit": 1000}, timeout=60
        ).json()
        entries += page["items"]
        if page["next"] is None:
            return entries
        after = page["next"]


def assert_complete_chain(base: str, iid: str, acknowledged: set[str]) -> None:
    """Every acknowledged id is stored once, seqs have no gap, and verify holds."""
    entries = read_all(base, iid)
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids))
    assert acknowledged <= set(ids)
    assert requests.get(f"{base}/api/v1/instances/{iid}/verify", timeout=120).json() == {
        "ok": True,
        "checked": len(entries),
        "first_bad_seq": None,
    }


def test_concurrent_appends_are_gapless_unique_and_chained(server: GunicornServer) -> None:
    iid, clients, per_client = str(uuid.uuid4()), 6, 20

    def run(client_no: int) -> list[str]:
        ids = []
        with requests.Session() as session:
            for n in range(per_client):
                # Every third entry is large enough to be offloaded.
                body = {
                    "type": "c",
                    "id": str(uuid.uuid4()),
                    "data": {"client": client_no, "n": n, "pad": "x" * (3000 if n % 3 == 0 else 10)},
                }
                ids.append(append_with_retries(session, server.url, iid, body)["id"])
        return ids

    with ThreadPoolExecutor(clients) as pool:
        acknowledged = {entry_id for ids in pool.map(run, range(clients)) for entry_id in ids}
    assert len(acknowledged) == clients * per_client
    assert_complete_chain(server.url, iid, acknowledged)
    assert len(read_all(server.url, iid)) == clients * per_client


@contextmanager
def appending(base_url: str, iid: str, writers: int = 4, pad: int = 0) -> Iterator[set[str]]:
    """Keep appending from several threads until the block ends; yield the ids acknowledged so far.

    Each append is retried with its id through dropped connections and 502/503s, as a careful client would.
    """
    acknowledged: set[str] = set()
    lock = threading.Lock()

    def keep_appending(stop: threading.Event) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                entry = append_with_retries(
                    session, base_url, iid, {"type": "c", "id": str(uuid.uuid4()), "data": {"pad": "y" * pad}}
                )
                with lock:
                    acknowledged.add(entry["id"])

    with threads_at_work(keep_appending, writers):
        yield acknowledged


def test_a_worker_killed_mid_appends_loses_nothing_acknowledged(server: GunicornServer) -> None:
    iid = str(uuid.uuid4())
    with appending(server.url, iid, pad=2500) as acknowledged:
        wait_until(lambda: len(acknowledged) >= 40, 120, "40 acknowledged appends")
        victims = server.worker_pids()
        for pid in victims[:2]:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not set(victims[:2]) & set(server.worker_pids()), 30, "workers replaced")
        count_at_kill = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= count_at_kill + 40, 120, "40 more acknowledged appends")
    assert_complete_chain(server.url, iid, acknowledged)


def _served_by(server: GunicornServer) -> list[tuple[int, str, str]]:
    """(pid, method, path) of every successful API request, from gunicorn's JSON access log."""
    return [
        (line["pid"], line["method"], line["path"])
        for line in server.json_lines()
        if "status" in line
        and "pid" in line
        and line["status"] in (200, 201)
        and line["path"].startswith("/api/v1/instances/")
    ]


@pytest.mark.parametrize("engine", list(FERRETDB_FIXTURES))
def test_eight_workers_starting_together_on_an_empty_database_answer_no_error(
    request: pytest.FixtureRequest, engine: str, tmp_path: Path
) -> None:
    """The master creates the indexes before any worker serves; every worker's first request then finds them, and
    none fails."""
    import pymongo

    uri = request.getfixturevalue(FERRETDB_FIXTURES[engine]).uri
    database = f"empty_{uuid.uuid4().hex[:8]}"
    env = {"DOCDB_URI": uri, "DOCDB_DATABASE_NAME": database, "DOCDB_COLLECTION": "history"}
    gunicorn = GunicornServer(env, workers=8, cwd=tmp_path)
    gunicorn.start()  # it waits for the API's description, which reads no store

    def index_names() -> set[str]:
        with pymongo.MongoClient(uri) as client:
            return {index["name"] for index in client[database]["history"].list_indexes()}

    expected = {"instance_seq", "instance_entry_id", "instance_type_seq", "recorded_at", "type_recorded_at"}
    try:
        assert index_names() >= expected  # before any request reached a store
        start = threading.Barrier(32)

        def append(n: int) -> int:
            start.wait(timeout=30)
            body = {"type": "t", "data": {"n": n}, "id": str(uuid.uuid4())}
            return requests.post(
                f"{gunicorn.url}/api/v1/instances/i-{n % 8}/history", json=body, timeout=60
            ).status_code

        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(append, range(32)))
        assert statuses == [201] * 32
        for n in range(8):
            assert [entry["seq"] for entry in read_all(gunicorn.url, f"i-{n}")] == [0, 1, 2, 3]
    finally:
        gunicorn.stop()


def test_embedded_default_needs_nothing_persists_and_is_shared_by_workers(tmp_path: Path) -> None:
    """`make run`'s set-up with no environment at all: a SQLite file under ./var, shared by four workers."""
    server = GunicornServer({}, workers=4, cwd=tmp_path)
    server.start()
    iid = str(uuid.uuid4())
    try:

        def post_then_get(n: int) -> None:
            with requests.Session() as session:
                entry = append_with_retries(session, server.url, iid, {"type": "t", "data": n, "id": str(uuid.uuid4())})
                fetched = session.get(f"{server.url}/api/v1/instances/{iid}/history/{entry['seq']}", timeout=30)
                assert fetched.json()["id"] == entry["id"]

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(post_then_get, range(40)))
        # The default state store (files under ./var/state) is shared by the workers too.
        state_url = f"{server.url}/api/v1/instances/{iid}/state"
        etag = requests.put(state_url, json={"step": 1}, timeout=30).headers["ETag"]
        for _ in range(12):
            with requests.Session() as session:
                assert session.get(state_url, timeout=30).headers["ETag"] == etag
        served = _served_by(server)
        posting, reading = {p for p, m, _ in served if m == "POST"}, {p for p, m, _ in served if m == "GET"}
        assert len(posting | reading) >= 2, "only one worker served: nothing crossed a process"
        # Every worker that read saw all 40 entries, whichever worker wrote them.
        for _ in range(12):
            with requests.Session() as session:
                assert (
                    len(session.get(f"{server.url}/api/v1/instances/{iid}/history", timeout=30).json()["items"]) == 40
                )
    finally:
        server.stop()
    database = tmp_path / "var" / "process_memory.sqlite3"
    assert database.exists() and (tmp_path / "var" / "state").is_dir()
    assert "WARNING" not in server.log()
    assert server.log().count(f"process-memory: history in SQLite file {database}") == 1

    again = GunicornServer({}, workers=2, cwd=tmp_path)
    again.start()
    try:
        assert len(read_all(again.url, iid)) == 40
        assert requests.get(f"{again.url}/api/v1/instances/{iid}/verify", timeout=30).json()["ok"] is True
    finally:
        again.stop()


def test_memory_state_with_several_workers_warns_at_start_up(tmp_path: Path) -> None:
    server = GunicornServer({"PROCESS_MEMORY_STATE_BACKEND": "memory"}, workers=2, cwd=tmp_path)
    server.start()
    server.stop()
    warnings = [line["message"] for line in server.json_lines() if line.get("level") == "warning"]
    assert len(warnings) == 1 and "PROCESS_MEMORY_STATE_BACKEND=memory with 2 workers" in warnings[0]


def test_waiting_readers_do_not_hold_the_workers_hostage(tmp_path: Path) -> None:
    """Two workers, six live-tail readers waiting at once, and other requests still answered."""
    server = GunicornServer({}, workers=2, cwd=tmp_path)
    server.start()
    readers: list[http.client.HTTPConnection] = []
    try:
        iid = str(uuid.uuid4())
        path = f"/api/v1/instances/{iid}/history"
        requests.post(f"{server.url}{path}", json={"type": "t", "data": 0}, timeout=30)
        for _ in range(6):
            # request() writes the whole request before returning; the answer is read later.
            reader = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            reader.request("GET", f"{path}?after=0&wait=25")
            readers.append(reader)
        # Six readers are waiting on two workers; sync workers would leave this queued behind them.
        assert requests.get(f"{server.url}{path}?limit=1", timeout=5).status_code == 200
        written = requests.post(f"{server.url}{path}", json={"type": "t", "data": 1}, timeout=30).json()
        for reader in readers:
            assert json.loads(reader.getresponse().read())["items"] == [written]
    finally:
        for reader in readers:
            reader.close()
        server.stop()


def test_make_run_serves_on_the_port_given_and_says_what_to_do_when_it_is_taken(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{tmp_path / 'history.sqlite3'}",
        "PROCESS_MEMORY_STATE_BACKEND": "memory",
    }
    make_run = ["make", "--no-print-directory", "-C", str(ROOT), "run"]
    with socket.socket() as taken:  # another make run, say
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run([*make_run, f"PORT={port}"], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert (
        f"make run: 127.0.0.1:{port} is in use (another make run?): stop it, or serve on another port: "
        f"make run PORT={port + 1}\n"
    ) in refused.stderr
    assert "Connection in use" not in refused.stderr  # gunicorn was not started to fail five times
    port = free_port()
    serving = subprocess.Popen(
        [*make_run, f"PORT={port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: port_open(port), 60, f"make run on port {port}")
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        os.killpg(serving.pid, signal.SIGTERM)
        serving.wait(60)
