"""The service log over HTTP, on every history backend: an instance's anchor, the log's consistency proofs and
tiles, and the refusals of what the log has not published."""

from __future__ import annotations

import base64
import dataclasses
import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from process_memory import create_app
from process_memory.anchoring.anchorer import Anchorer, AnchoringSettings
from process_memory.proofs.anchors import AnchorError, check_anchor
from process_memory.proofs.checkpoints import open_checkpoint
from process_memory.proofs.notes import Signer, Verifier, generate_key
from tests.conftest import Backend
from tests.contract.test_service_log import ORIGIN, _leaf_hash, _mth, _path, _subproof

API = "/api/v1"


@pytest.fixture
def anchored(backend: Backend) -> tuple[Flask, Anchorer]:
    """An app signing under ORIGIN, and an anchorer the test runs by hand."""
    signer = Signer.from_key(generate_key(ORIGIN)[0])
    settings = dataclasses.replace(backend.settings, signing_key=signer, log_origin=ORIGIN)
    anchorer = Anchorer(backend.store, AnchoringSettings(signer, ORIGIN), lambda: datetime.now(UTC), holder="t")
    return create_app(settings, history_store=backend.store), anchorer


def _hashes(app: Flask, instance_id: str, count: int) -> list[bytes]:
    client = app.test_client()
    answers = [
        client.post(f"{API}/instances/{instance_id}/history", json={"type": "t", "data": n}) for n in range(count)
    ]
    return [bytes.fromhex(answer.get_json()["hash"]) for answer in answers]


def _leaf(instance_id: str, entry_hashes: list[bytes]) -> bytes:
    root = base64.b64encode(_mth(entry_hashes)).decode()
    return f"{ORIGIN}/{instance_id}\n{len(entry_hashes)}\n{root}\n".encode()


def test_an_anchor_proves_the_instance_s_tree_into_the_published_checkpoint(anchored: tuple[Flask, Anchorer]) -> None:
    app, anchorer = anchored
    client = app.test_client()
    first, second = _hashes(app, "first", 3), _hashes(app, "second", 2)
    anchorer.run_round()
    leaves = [_leaf("first", first), _leaf("second", second)]
    anchor = client.get(f"{API}/instances/second/anchor").get_json()
    assert (anchor["size"], anchor["anchored_size"], anchor["leaf_index"]) == (2, 2, 1)
    assert anchor["leaf"].encode() == leaves[1] and anchor["consistency"] == []
    assert anchor["inclusion"] == [h.hex() for h in _path(1, leaves)]
    assert (anchor["checkpoint"]["size"], anchor["checkpoint"]["root"]) == (2, _mth(leaves).hex())
    assert anchor["checkpoint"]["witnessed"] is False  # no witness: the service vouches for itself alone
    earlier = client.get(f"{API}/instances/first/anchor", query_string={"size": 1}).get_json()
    assert (earlier["size"], earlier["anchored_size"], earlier["leaf_index"]) == (1, 3, 0)
    assert earlier["consistency"] == [h.hex() for h in _subproof(1, first, True)]
    _hashes(app, "second", 1)  # a third entry, not anchored yet
    late = client.get(f"{API}/instances/second/anchor")
    assert late.status_code == 404 and "not anchored" in late.get_json()["error"]["message"]
    assert client.get(f"{API}/instances/second/anchor", query_string={"size": 2}).status_code == 200
    assert client.get(f"{API}/instances/nobody/anchor").status_code == 404
    assert client.get(f"{API}/instances/first/anchor", query_string={"size": 4}).status_code == 404
    assert client.get(f"{API}/instances/first/anchor", query_string={"size": 0}).status_code == 422


def test_the_log_is_served_as_tiles_with_its_proofs(anchored: tuple[Flask, Anchorer]) -> None:
    app, anchorer = anchored
    client = app.test_client()
    assert client.get(f"{API}/log/checkpoint").status_code == 404
    leaves = [_leaf(name, _hashes(app, name, 1)) for name in ("a", "b", "c")]
    anchorer.run_round()
    note = client.get(f"{API}/log/checkpoint")
    assert note.mimetype == "text/plain" and note.text.startswith(f"{ORIGIN}\n3\n")
    assert note.headers["Cache-Control"] == "public, max-age=1"
    hashes = client.get(f"{API}/log/tile/0/000.p/3")
    assert hashes.data == b"".join(_leaf_hash(leaf) for leaf in leaves)
    assert hashes.headers["Cache-Control"] == "public, max-age=1"  # partial: it will grow
    bundle = client.get(f"{API}/log/tile/entries/000.p/3")
    assert bundle.data == b"".join(struct.pack(">H", len(leaf)) + leaf for leaf in leaves)
    for missing in (
        "0/000.p/2",
        "0/000",
        "0/001.p/3",
        "1/000.p/1",
        "entries/x001/000",
        "0/x000/000",
        "0/00.p/3",
        "0/000.p/256",
        "../keys",
    ):
        refused = client.get(f"{API}/log/tile/{missing}")
        assert refused.status_code == 404 and refused.is_json, missing
    proof = client.get(f"{API}/log/proof/consistency", query_string={"from": 1}).get_json()
    assert proof == {"from": 1, "to": 3, "proof": [h.hex() for h in _subproof(1, leaves, True)]}
    assert client.get(f"{API}/log/proof/consistency", query_string={"from": 4}).status_code == 404
    assert client.get(f"{API}/log/proof/consistency", query_string={"from": 1, "to": 4}).status_code == 404


def test_check_anchor_refuses_every_part_changed(anchored: tuple[Flask, Anchorer]) -> None:
    app, anchorer = anchored
    client = app.test_client()
    _hashes(app, "x", 1)
    _hashes(app, "y", 3)
    anchorer.run_round()
    keys = [Verifier.from_key(key) for key in client.get(f"{API}/keys").get_json()["keys"]]
    instance = open_checkpoint(client.get(f"{API}/instances/y/checkpoint?size=2").get_json()["note"], keys)
    good = client.get(f"{API}/instances/y/anchor?size=2").get_json()
    assert check_anchor(good, instance, keys, [], 0).leaf_index == 1
    flipped = "0" * 64
    changes: list[tuple[dict[str, Any], str]] = [
        ({"inclusion": [flipped]}, "is not leaf 1"),
        ({"leaf_index": 0}, "is not leaf 0"),
        ({"consistency": []}, "does not extend"),
        ({"consistency": [flipped]}, "does not extend"),
        ({"leaf": good["leaf"].replace("\n3\n", "\n1\n")}, "does not anchor"),
        ({"leaf": good["leaf"].replace("/y\n", "/x\n")}, "does not anchor"),
        ({"leaf": "not a checkpoint"}, "the leaf:"),
        ({"checkpoint": {"note": good["checkpoint"]["note"].replace("\n2\n", "\n3\n", 1)}}, "service checkpoint"),
        ({"inclusion": ["zz"]}, "list of hex hashes"),
        ({"leaf_index": None}, "an anchor holds"),
    ]
    for change, refusal in changes:
        with pytest.raises(AnchorError, match=refusal):
            check_anchor(good | change, instance, keys, [], 0)
    with pytest.raises(AnchorError, match="cosigned by 0 of the 1"):
        check_anchor(good, instance, keys, [], 1)
