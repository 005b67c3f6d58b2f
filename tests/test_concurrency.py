"""Many gunicorn workers and client processes appending to one instance at once (FerretDB)."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.services import FerretDBServer, GunicornServer

CLIENTS = 6
APPENDS_PER_CLIENT = 25


@pytest.fixture
def gunicorn_on_ferretdb(ferretdb: FerretDBServer, tmp_path: Path) -> Iterator[GunicornServer]:
    """gunicorn with four workers over the shared FerretDB, in a collection of its own."""
    server = GunicornServer(
        {"DOCDB_URI": ferretdb.uri, "DOCDB_DATABASE_NAME": "pm_test",
         "DOCDB_COLLECTION": f"t_{uuid.uuid4().hex[:12]}", "DOCDB_MAX_DATA": "2000"},
        workers=4, log_path=tmp_path / "gunicorn.log",
    )
    server.start()
    yield server
    server.stop()


def _append_many(base_url: str, iid: str, client_no: int) -> list[str]:
    ids = []
    with requests.Session() as session:
        for n in range(APPENDS_PER_CLIENT):
            entry_id = str(uuid.uuid4())
            # Every third entry is large enough to be offloaded to GridFS.
            data = {"client": client_no, "n": n, "pad": "x" * (3000 if n % 3 == 0 else 10)}
            for _ in range(20):  # retry 503s with the same id: safe by design
                response = session.post(f"{base_url}/api/v1/instances/{iid}/history",
                                        json={"type": "c", "data": data, "id": entry_id}, timeout=60)
                if response.status_code != 503:
                    break
            assert response.status_code == 201, response.text
            ids.append(entry_id)
    return ids


def test_concurrent_appends_are_gapless_unique_and_chained(gunicorn_on_ferretdb: GunicornServer) -> None:
    base, iid = gunicorn_on_ferretdb.url, str(uuid.uuid4())
    with multiprocessing.get_context("spawn").Pool(CLIENTS) as pool:
        results = pool.starmap(_append_many, [(base, iid, n) for n in range(CLIENTS)])
    acknowledged = {entry_id for ids in results for entry_id in ids}
    total = CLIENTS * APPENDS_PER_CLIENT
    assert len(acknowledged) == total

    entries, after = [], -1
    while True:
        page = requests.get(f"{base}/api/v1/instances/{iid}/history",
                            params={"after": after, "limit": 1000}, timeout=30).json()
        entries += page["items"]
        if page["next"] is None:
            break
        after = page["next"]
    assert [e["seq"] for e in entries] == list(range(total))
    assert {e["id"] for e in entries} == acknowledged
    for previous, entry in zip(entries, entries[1:]):
        assert entry["prev_hash"] == previous["hash"]
    assert requests.get(f"{base}/api/v1/instances/{iid}/verify", timeout=60).json() == {
        "ok": True, "checked": total, "first_bad_seq": None}
    assert requests.get(f"{base}/api/v1/instances/{iid}", timeout=30).json()["count"] == total
