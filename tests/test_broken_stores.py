"""Stores that break under the service: a full disk and a read-only one (real tmpfs mounts), a damaged state file,
a garbage SQLite file and one with damaged pages. Never a 500: 507 for no room, 503 otherwise, in the JSON
shape, /readyz saying why, and nothing stored lost or altered."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.config import Settings
from process_memory.services import services
from process_memory.stores import FileStore
from tests.services import GunicornServer, unavailable

API = "/api/v1/instances"


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "256k") -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where`` (root only), unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        unavailable("mounting a tmpfs needs root (CI runs as root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(directory: Path) -> None:
    """Write until the file system has no room left."""
    with contextlib.suppress(OSError), open(directory / "filler", "wb") as filler:
        while True:
            filler.write(b"\0" * 4096)
            filler.flush()
            os.fsync(filler.fileno())


def _state_app(tmp_path: Path, state_dir: Path) -> Flask:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'history.sqlite3'}")
    return create_app(settings, state_store=FileStore(state_dir))


def _state(client: FlaskClient, iid: str) -> object:
    return client.get(f"{API}/{iid}/state").get_json()


def test_a_full_disk_under_the_file_state_store_is_a_507(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs") as disk:
        client = _state_app(tmp_path, disk / "state").test_client()
        iid = str(uuid.uuid4())
        assert client.put(f"{API}/{iid}/state", json={"kept": 1}).status_code == 201
        fill(disk)
        refused = client.put(f"{API}/{iid}/state", json={"lost": "x" * 10_000})
        assert refused.status_code == 507, refused.get_data()
        assert refused.get_json()["error"]["code"] == "insufficient_storage"
        other = client.put(f"{API}/{uuid.uuid4()}/state", json={"new": 1})
        assert other.status_code == 507
        assert _state(client, iid) == {"kept": 1}  # nothing acknowledged was lost or altered
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["checks"]["state"] == "full"
        deleted = client.delete(f"{API}/{iid}/state")
        assert deleted.status_code in (204, 507)
        assert _state(client, iid) == ({"kept": 1} if deleted.status_code == 507 else _state(client, iid))
        (disk / "filler").unlink()
        assert client.get("/readyz").status_code == 200
        assert client.put(f"{API}/{iid}/state", json={"again": 1}).status_code in (200, 201)


def test_a_read_only_state_directory_is_a_503_and_not_ready(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs") as disk:
        client = _state_app(tmp_path, disk / "state").test_client()
        iid = str(uuid.uuid4())
        assert client.put(f"{API}/{iid}/state", json={"kept": 1}).status_code == 201
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        for response in (client.put(f"{API}/{iid}/state", json={"lost": 1}), client.delete(f"{API}/{iid}/state")):
            assert response.status_code == 503, response.get_data()
            assert response.get_json()["error"]["code"] == "store_unavailable"
        assert _state(client, iid) == {"kept": 1}
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["checks"] == {"history": "ok", "state": "unavailable"}
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("damage", [b"", b"\xff\xfe not utf-8\n{}", b"not json\n{}", b'{"version": 7}\n{}', b"[]\n1"])
def test_a_damaged_state_file_is_a_503_and_can_be_replaced_or_deleted(tmp_path: Path, damage: bytes) -> None:
    client = _state_app(tmp_path, tmp_path / "state").test_client()
    iid = str(uuid.uuid4())
    assert client.put(f"{API}/{iid}/state", json={"v": 1}).status_code == 201
    [path] = [p for p in (tmp_path / "state").rglob("keys/*") if not p.name.startswith(".tmp-")]
    path.write_bytes(damage)
    read = client.get(f"{API}/{iid}/state")
    assert read.status_code == 503 and read.get_json()["error"]["code"] == "store_corrupt"
    assert "writing or deleting it" in read.get_json()["error"]["message"]
    guarded = client.put(f"{API}/{iid}/state", json={"v": 2}, headers={"If-Match": '"' + "0" * 32 + '"'})
    assert guarded.status_code == 412
    assert client.put(f"{API}/{iid}/state", json={"v": 2}, headers={"If-None-Match": "*"}).status_code == 412
    assert client.delete(f"{API}/{iid}/state", headers={"If-Match": '"' + "0" * 32 + '"'}).status_code == 412
    assert client.get("/readyz").status_code == 200  # one damaged value does not take the service out
    assert client.put(f"{API}/{iid}/state", json={"v": 3}).status_code == 200
    assert _state(client, iid) == {"v": 3}
    path.write_bytes(damage)
    assert client.delete(f"{API}/{iid}/state").status_code == 204
    assert client.get(f"{API}/{iid}/state").status_code == 404


def test_a_garbage_sqlite_file_is_a_503_and_not_ready(tmp_path: Path) -> None:
    garbage = tmp_path / "history.sqlite3"
    garbage.write_bytes(b"this is not an SQLite file " * 400)
    client = create_app(Settings(database_url=f"sqlite:///{garbage}")).test_client()
    iid = str(uuid.uuid4())
    for response in (
        client.get(f"{API}/{iid}/head"),
        client.get(f"{API}/{iid}/history"),
        client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1}),
        client.get(f"{API}?prefix=a"),
        client.get("/ui/"),
    ):
        assert response.status_code == 503, response.get_data()[:200]
        if response.mimetype == "application/json":
            assert response.get_json()["error"]["code"] == "store_corrupt"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["history"] == "corrupt"
    assert garbage.read_bytes() == b"this is not an SQLite file " * 400  # left as it was, for the operator


def _damage_pages(path: Path, first_page: int, pages: int) -> None:
    """Overwrite whole pages of an SQLite file in place, as a failing disk would."""
    page_size = int.from_bytes(path.read_bytes()[16:18], "big") or 65536
    with open(path, "r+b") as database:
        database.seek(first_page * page_size)
        database.write(bytes([0xA5]) * page_size * pages)


def test_damaged_sqlite_pages_are_503s_and_make_the_service_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    app = create_app(Settings(database_url=f"sqlite:///{path}"))
    client = app.test_client()
    iid = str(uuid.uuid4())
    batch = {
        "entries": [{"id": str(uuid.uuid4()), "type": "t", "data": {"n": n, "pad": "p" * 300}} for n in range(600)]
    }
    assert client.post(f"{API}/{iid}/history/batch", json=batch).status_code == 201
    assert client.get("/readyz").status_code == 200
    services(app).history.store.close()
    pages = path.stat().st_size // int.from_bytes(path.read_bytes()[16:18], "big")
    _damage_pages(path, pages // 3, pages // 3)
    verify = client.get(f"{API}/{iid}/verify")
    assert verify.status_code == 503 and verify.get_json()["error"]["code"] == "store_corrupt"
    page = client.get(f"{API}/{iid}/history?limit=1000")
    assert page.status_code == 503
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["history"] == "corrupt"


def test_through_gunicorn_damaged_pages_never_end_an_export_cleanly(tmp_path: Path) -> None:
    """An export that meets damage after it started ends without HTTP's end of body, so the client knows."""
    server = GunicornServer({}, workers=1, cwd=tmp_path)
    server.start()
    iid = str(uuid.uuid4())
    try:
        entries = [{"id": str(uuid.uuid4()), "type": "t", "data": {"n": n, "pad": "p" * 300}} for n in range(600)]
        created = requests.post(f"{server.url}{API}/{iid}/history/batch", json={"entries": entries}, timeout=60)
        assert created.status_code == 201
    finally:
        server.stop()
    path = tmp_path / "var" / "process_memory.sqlite3"
    page_size = int.from_bytes(path.read_bytes()[16:18], "big")
    pages = path.stat().st_size // page_size
    _damage_pages(path, pages // 2, pages // 3)
    server.start()
    try:
        export = requests.get(f"{server.url}{API}/{iid}/export", stream=True, timeout=60)
        if export.status_code == 200:
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                export.content  # noqa: B018  # reading the body is the test
        else:
            assert export.status_code == 503 and export.json()["error"]["code"] == "store_corrupt"
        assert requests.get(f"{server.url}{API}/{iid}/verify", timeout=60).status_code == 503
        ready = requests.get(f"{server.url}/readyz", timeout=60)
        assert ready.status_code == 503 and ready.json()["checks"]["history"] == "corrupt"
    finally:
        server.stop()
    assert "pppppppp" not in server.log()


def test_a_full_disk_under_sqlite_is_a_507_and_loses_nothing(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", size="2m") as disk:
        client = create_app(Settings(database_url=f"sqlite:///{disk / 'history.sqlite3'}")).test_client()
        iid = str(uuid.uuid4())
        acknowledged = 0
        for n in range(400):  # about 2 MB of entries: the disk runs out on the way
            answer = client.post(f"{API}/{iid}/history", json={"type": "t", "data": {"n": n, "pad": "p" * 8000}})
            if answer.status_code != 201:
                break
            acknowledged += 1
        assert answer.status_code == 507, answer.get_data()[:200]
        assert answer.get_json()["error"]["code"] == "insufficient_storage" and answer.headers["Retry-After"]
        assert acknowledged > 0
        page = client.get(f"{API}/{iid}/history?limit=1000").get_json()["items"]
        assert [entry["data"]["n"] for entry in page] == list(range(acknowledged))  # each acknowledged entry kept
        assert client.get(f"{API}/{iid}/verify").get_json()["ok"] is True
