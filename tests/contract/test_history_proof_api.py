"""The proof routes over HTTP, on every history backend: what an auditor fetches and checks offline.

GET /api/v1/keys publishes the verifier key; GET …/checkpoint signs the tree;
GET …/proof/inclusion and …/proof/consistency prove. The bodies, saved as they
come, are what the Go verifier checks.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.proofs.checkpoints import Checkpoint, open_checkpoint
from process_memory.proofs.notes import Signer, Verifier, generate_key
from process_memory.proofs.tlog import check_record, check_tree
from tests.backends import RawAccess
from tests.conftest import Backend
from tests.services import unavailable
from tests.test_verify_tool import VERIFIER

API = "/api/v1/instances"


@pytest.fixture
def signing_app(backend: Backend) -> Flask:
    """The app of the backend, signing checkpoints with a key of its own under the origin pm.test."""
    signer = Signer.from_key(generate_key("pm.test")[0])
    settings = dataclasses.replace(backend.settings, signing_key=signer, log_origin="pm.test")
    return create_app(settings, history_store=backend.store)


def _fill(client: FlaskClient, iid: str, count: int) -> list[str]:
    hashes = []
    for n in range(count):
        answer = client.post(f"{API}/{iid}/history", json={"type": "row", "data": n})
        assert answer.status_code == 201
        hashes.append(answer.get_json()["hash"])
    return hashes


def test_an_auditor_checks_checkpoints_and_proofs_with_the_published_key(signing_app: Flask, iid: str) -> None:
    client = signing_app.test_client()
    hashes = _fill(client, iid, 7)
    published = client.get("/api/v1/keys").get_json()
    assert published["origin"] == "pm.test" and len(published["keys"]) == 1
    verifier = Verifier.from_key(published["keys"][0])
    old = client.get(f"{API}/{iid}/checkpoint", query_string={"size": 3}).get_json()
    new = client.get(f"{API}/{iid}/checkpoint").get_json()
    assert (old["instance_id"], old["size"], new["size"], new["head_hash"]) == (iid, 3, 7, hashes[6])
    old_tree, new_tree = open_checkpoint(old["note"], [verifier]), open_checkpoint(new["note"], [verifier])
    assert (new_tree.origin, new_tree.root.hex()) == (f"pm.test/{iid}", new["root"])
    for seq in range(7):
        proof = client.get(f"{API}/{iid}/proof/inclusion", query_string={"seq": seq}).get_json()
        assert (proof["seq"], proof["size"]) == (seq, 7)
        path = [bytes.fromhex(h) for h in proof["proof"]]
        check_record(path, 7, new_tree.root, seq, bytes.fromhex(proof["leaf_hash"]))
    consistency = client.get(f"{API}/{iid}/proof/consistency", query_string={"from": 3}).get_json()
    assert (consistency["from"], consistency["to"]) == (3, 7)
    check_tree([bytes.fromhex(h) for h in consistency["proof"]], 7, new_tree.root, 3, old_tree.root)


def test_the_go_verifier_checks_the_bodies_as_served(signing_app: Flask, iid: str, tmp_path: Path) -> None:
    if not VERIFIER.exists():
        unavailable("the Go verifier is not built (needs Go; `make test` builds it with tools/verify/build.sh)")
    client = signing_app.test_client()
    hashes = _fill(client, iid, 10)
    key = client.get("/api/v1/keys").get_json()["keys"][0]
    files = {
        "old": client.get(f"{API}/{iid}/checkpoint", query_string={"size": 6}).get_json()["note"],
        "new": client.get(f"{API}/{iid}/checkpoint").get_json()["note"],
        "inclusion": client.get(f"{API}/{iid}/proof/inclusion", query_string={"seq": 8}).get_data(as_text=True),
        "consistency": client.get(f"{API}/{iid}/proof/consistency", query_string={"from": 6}).get_data(as_text=True),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    def verify(*args: str) -> int:
        run = subprocess.run([str(VERIFIER), *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        return run.returncode

    assert verify("inclusion", "-key", key, "-entry-hash", hashes[8], "new", "inclusion") == 0
    assert verify("consistency", "-key", key, "old", "new", "consistency") == 0
    assert verify("inclusion", "-key", key, "-entry-hash", hashes[7], "new", "inclusion") == 1
    assert verify("consistency", "-key", key, "new", "old", "consistency") == 1


def test_each_refusal_has_its_status(signing_app: Flask, app: Flask, iid: str) -> None:
    client = signing_app.test_client()
    _fill(client, iid, 3)
    unknown = str(uuid.uuid4())
    expected = {
        # Each range at its last valid value and one past it (the instance holds seqs 0-2: a tree of size 3).
        f"{API}/{iid}/checkpoint?size=3": 200,
        f"{API}/{iid}/checkpoint?size=4": 404,
        f"{API}/{iid}/checkpoint?size=1": 200,
        f"{API}/{iid}/proof/inclusion?seq=2": 200,
        f"{API}/{iid}/proof/inclusion?seq=2&size=3": 200,
        f"{API}/{iid}/proof/inclusion?seq=0&size=4": 404,
        f"{API}/{iid}/proof/inclusion?seq=1&size=2": 200,
        f"{API}/{iid}/proof/inclusion?seq=0&size=0": 422,
        f"{API}/{iid}/proof/consistency?from=3": 200,
        f"{API}/{iid}/proof/consistency?from=2&to=2": 200,
        f"{API}/{iid}/proof/consistency?from=1&to=3": 200,
        f"{API}/{iid}/proof/consistency?from=1&to=4": 404,
        f"{API}/{iid}/proof/consistency?from=0": 422,
        f"{API}/{iid}/history/2": 200,
        f"{API}/{iid}/history/3": 404,
        f"{API}/{iid}/checkpoint?size=0": 422,
        f"{API}/{iid}/proof/inclusion?seq=3": 404,
        f"{API}/{iid}/proof/inclusion?seq=2&size=2": 404,
        f"{API}/{iid}/proof/inclusion": 422,
        f"{API}/{iid}/proof/consistency?from=4": 404,
        f"{API}/{iid}/proof/consistency?from=2&to=1": 404,
        f"{API}/{iid}/proof/consistency?from=1&extra=1": 422,
        f"{API}/{unknown}/checkpoint": 404,
        f"{API}/{unknown}/proof/inclusion?seq=0": 404,
    }
    for url, status in expected.items():
        answer = client.get(url)
        assert (url, answer.status_code) == (url, status)
        if status != 200:
            assert set(answer.get_json()["error"]) == {"code", "message", "details"}
    # Without a signing key no checkpoint is signed, and none is published.
    unsigned = app.test_client()
    assert unsigned.get(f"{API}/{iid}/checkpoint").status_code == 404
    assert unsigned.get("/api/v1/keys").get_json()["keys"] == []
    assert unsigned.get(f"{API}/{iid}/proof/inclusion?seq=0").status_code == 200
    json.loads(unsigned.get(f"{API}/{iid}/proof/consistency?from=1").get_data())


def _receipt(answer: Any, verifier: Verifier) -> Checkpoint:
    assert answer.headers["Preference-Applied"] == "receipt"
    return open_checkpoint(base64.b64decode(answer.headers["Receipt"]).decode(), [verifier])


def test_every_kind_of_append_returns_its_receipt_when_asked(signing_app: Flask, raw: RawAccess, iid: str) -> None:
    client = signing_app.test_client()
    verifier = Verifier.from_key(client.get("/api/v1/keys").get_json()["keys"][0])
    asked = {"Prefer": "return=representation, receipt"}
    one = client.post(f"{API}/{iid}/history", json={"type": "row", "data": 0}, headers=asked)
    many = [{"id": str(uuid.uuid4()), "type": "row", "data": n} for n in (1, 2, 3)]
    batch = client.post(f"{API}/{iid}/history/batch", json={"entries": many}, headers=asked)
    legacy = client.post(f"/{iid}/commit", json={"event": {"name": "e"}}, headers={"Prefer": "receipt"})
    again = client.post(f"{API}/{iid}/history/batch", json={"entries": many[:2]}, headers=asked)  # a safe retry
    receipts = [_receipt(answer, verifier) for answer in (one, batch, legacy, again)]
    assert [r.size for r in receipts] == [1, 4, 5, 3]
    for receipt in receipts:  # each is the checkpoint of the tree the append left, whatever came after
        served = client.get(f"{API}/{iid}/checkpoint", query_string={"size": receipt.size}).get_json()
        assert (receipt.origin, receipt.root.hex()) == (f"pm.test/{iid}", served["root"])
        assert receipt.extensions == (f"head {served['head_hash']}",)
    # Not asked for, no receipt; an instance whose tree is incomplete still appends, without one.
    plain = client.post(f"{API}/{iid}/history", json={"type": "row", "data": 5})
    assert plain.status_code == 201 and "Receipt" not in plain.headers
    raw.drop_tree(iid, 5)  # the subtree of seqs 4 and 5, which every tree past 5 entries needs
    incomplete = client.post(f"{API}/{iid}/history", json={"type": "row", "data": 6}, headers=asked)
    assert incomplete.status_code == 201 and "Receipt" not in incomplete.headers
    assert client.get(f"{API}/{iid}").get_json()["count"] == 7


def test_no_receipt_without_a_signing_key(app: Flask, iid: str) -> None:
    answer = app.test_client().post(
        f"{API}/{iid}/history", json={"type": "row", "data": 0}, headers={"Prefer": "receipt"}
    )
    assert answer.status_code == 201
    assert "Receipt" not in answer.headers and "Preference-Applied" not in answer.headers
