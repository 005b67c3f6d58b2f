"""The service log end to end: gunicorn's anchoring process anchors in the background and two litewitness cosign; an
independent client (torchwood's tile reader, tools/witness/tileread) reads every leaf through the tiles and
checks them against the signed checkpoint, and refuses the log once a stored leaf is changed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from process_memory.proofs.cosignatures import WitnessKey, cosigners
from process_memory.proofs.notes import Signer, generate_key
from tests.conftest import WitnessPair
from tests.keys import write_test_keys
from tests.services import ROOT, GunicornServer, NginxServer, nginx_binary, unavailable, wait_until
from tests.test_nginx import MAX_BODY, behind_nginx

TILE_READER = ROOT / ".cache" / "bin" / "pm-tileread"
ORIGIN = "pm.e2e"


def _anchoring_env(tmp_path: Path, witness_pair: WitnessPair) -> tuple[dict[str, str], Signer, Path]:
    """gunicorn's environment over SQLite, signing as a new origin under ORIGIN, anchoring every second, with both
    witnesses at quorum 2; the signer and the database."""
    if not TILE_READER.exists():
        unavailable("pm-tileread not built (needs Go; `make test` builds it with tools/witness/build.sh)")
    origin = f"{ORIGIN}.{tmp_path.name}"  # a log of its own at each witness
    secret, verifier = generate_key(origin)
    for witness in witness_pair.witnesses:
        witness.add_log(origin, verifier)
    (tmp_path / "signing.key").write_text(secret)
    database = tmp_path / "history.sqlite3"
    env = {
        "PROCESS_MEMORY_DATABASE_URL": f"sqlite:///{database}",
        "PROCESS_MEMORY_SIGNING_KEY_FILE": str(tmp_path / "signing.key"),
        "PROCESS_MEMORY_LOG_ORIGIN": origin,
        "PROCESS_MEMORY_WITNESSES": ";".join(f"{w.verifier_key} {w.url}" for w in witness_pair.witnesses),
        "PROCESS_MEMORY_STATE_BACKEND": "memory",
    }
    return env, Signer.from_key(secret), database


@pytest.fixture
def anchoring_server(tmp_path: Path, witness_pair: WitnessPair) -> Iterator[tuple[GunicornServer, Signer, Path]]:
    """gunicorn (two workers) anchoring in the background, keyless on loopback."""
    env, signer, database = _anchoring_env(tmp_path, witness_pair)
    server = GunicornServer(env, workers=2, cwd=tmp_path)
    server.start()
    yield server, signer, database
    server.stop()


def _read_tiles(url: str, signer: Signer) -> subprocess.CompletedProcess[str]:
    command = [str(TILE_READER), "-url", f"{url}/api/v1/log", "-key", signer.verifier_key]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_the_service_anchors_in_the_background_and_an_independent_reader_checks_every_leaf(
    anchoring_server: tuple[GunicornServer, Signer, Path], witness_pair: WitnessPair
) -> None:
    server, signer, database = anchoring_server
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for n in range(300):  # more than a tile of leaves, once each instance is anchored
            assert client.post(f"/api/v1/instances/i{n:03d}/history", json={"type": "t", "data": n}).is_success
        wait_until(lambda: client.get("/api/v1/checkpoint").json().get("size") == 300, 30, "300 leaves anchored")
        published = client.get("/api/v1/checkpoint").json()
        anchor = client.get("/api/v1/instances/i299/anchor").json()
    keys = [WitnessKey.from_key(w.verifier_key) for w in witness_pair.witnesses]
    assert sorted(cosigners(published["note"], keys)) == sorted(w.name for w in witness_pair.witnesses)
    read = _read_tiles(server.url, signer)
    assert read.returncode == 0, read.stderr
    lines = [json.loads(line) for line in read.stdout.splitlines()]
    assert lines[0] == {"size": 300} and [line["index"] for line in lines[1:]] == list(range(300))
    origin = published["note"].split("\n")[0]
    assert origin.startswith(f"{ORIGIN}.")
    assert {line["leaf"].split("\n")[0] for line in lines[1:]} == {f"{origin}/i{n:03d}" for n in range(300)}
    assert lines[1 + anchor["leaf_index"]]["leaf"] == anchor["leaf"]
    with sqlite3.connect(database) as conn:  # the operator changes one stored leaf
        conn.execute(
            "UPDATE process_memory_anchor_leaves SET leaf = replace(leaf, '\n1\n', '\n2\n') WHERE position = 7"
        )
    refused = _read_tiles(server.url, signer)
    assert refused.returncode == 1 and "hash mismatch for entry 7" in refused.stderr


def _lease(database: Path) -> tuple[str, float]:
    with sqlite3.connect(database) as conn:
        ((holder, expires_at),) = conn.execute("SELECT holder, expires_at FROM process_memory_anchor_leases").fetchall()
    return holder, expires_at


def _anchored_size(client: httpx.Client) -> int:
    size: int = client.get("/api/v1/checkpoint").json().get("size", 0)
    return size


def test_the_master_anchors_in_a_process_of_its_own_and_starts_it_again_when_it_dies(
    anchoring_server: tuple[GunicornServer, Signer, Path],
) -> None:
    server, _, database = anchoring_server
    (first,) = server.anchoring_pids()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(20):  # every worker serves, so each would have started a loop of its own
            assert client.post("/api/v1/instances/one/history", json={"type": "t", "data": 1}).is_success
        wait_until(lambda: _anchored_size(client) == 1, 30, "one leaf anchored")
        assert _lease(database)[0].split(":")[1] == str(first)  # held by the anchoring process, no worker
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: server.anchoring_pids() not in ([], [first]), 30, "anchoring process started again")
        (second,) = server.anchoring_pids()
        assert client.post("/api/v1/instances/two/history", json={"type": "t", "data": 1}).is_success
        # The dead process's lease expires (anchorer.LEASE_SECONDS, 15 s) before the new one takes it.
        wait_until(lambda: _anchored_size(client) == 2, 45, "the new process anchors")
    assert _lease(database)[0].split(":")[1] == str(second)
    assert len(server.worker_pids()) == 2


def test_the_anchoring_process_gives_up_the_lease_when_gunicorn_stops(
    anchoring_server: tuple[GunicornServer, Signer, Path],
) -> None:
    server, _, database = anchoring_server
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/api/v1/instances/one/history", json={"type": "t", "data": 1}).is_success
        wait_until(lambda: _anchored_size(client) == 1, 30, "one leaf anchored")
    assert _lease(database)[1] > 0  # held, renewed by every round
    (anchoring,) = server.anchoring_pids()
    server.stop()  # gracefully: the master's on_exit stops the anchoring process, which releases the lease
    assert _lease(database)[1] == 0.0
    assert not Path(f"/proc/{anchoring}").exists()


def test_the_tiles_are_read_through_the_rendered_nginx_site_with_a_key(
    tmp_path: Path, witness_pair: WitnessPair
) -> None:
    if nginx_binary() is None:
        unavailable("nginx not installed (Debian package nginx; .ci/run installs it)")
    env, signer, _ = _anchoring_env(tmp_path, witness_pair)
    keys = write_test_keys(tmp_path)
    server = GunicornServer(env | behind_nginx(keys), workers=2, cwd=tmp_path)
    server.start()
    nginx = NginxServer(tmp_path / "nginx", f"127.0.0.1:{server.port}", MAX_BODY)
    nginx.start()
    try:
        url = nginx.url.replace("http://", f"http://ops:{keys.secrets['all']}@")
        with httpx.Client(base_url=url, timeout=10) as client:
            for n in range(260):  # a full tile of leaves and a partial one
                assert client.post(f"/api/v1/instances/i{n:03d}/history", json={"type": "t", "data": n}).is_success
            wait_until(lambda: client.get("/api/v1/checkpoint").json().get("size") == 260, 30, "260 leaves")
            full, partial = client.get("/api/v1/log/tile/0/000"), client.get("/api/v1/log/tile/0/001.p/4")
            assert httpx.get(f"{nginx.url}/api/v1/log/tile/0/000", timeout=10).status_code == 401  # no key
        assert (full.status_code, len(full.content)) == (200, 256 * 32)
        assert full.headers["cache-control"] == "private, max-age=31536000, immutable"  # a keyed service's
        assert (partial.status_code, partial.headers["cache-control"]) == (200, "private, max-age=1")
        read = _read_tiles(url, signer)
        assert read.returncode == 0, read.stderr
        lines = [json.loads(line) for line in read.stdout.splitlines()]
        assert lines[0] == {"size": 260} and [line["index"] for line in lines[1:]] == list(range(260))
    finally:
        nginx.stop()
        server.stop()
