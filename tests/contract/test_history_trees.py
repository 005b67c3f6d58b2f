"""Each instance's Merkle tree, kept with its entries (history/trees.py), on every history backend.

Whatever way entries arrive (one at a time, in batches, by clone, racing
writers), the tree their stored hashes make is RFC 6962's tree of the entries'
hashes (tests/test_tlog.py has the RFC's definitions), for every size.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient

from process_memory.history import trees
from process_memory.history.store import HistoryStore
from process_memory.proofs.tlog import check_record, prove_record, record_hash, tree_hash
from process_memory.proofs.trees import InstanceTree
from tests.backends import RawAccess
from tests.test_tlog import mth

API = "/api/v1/instances"


def _append(client: FlaskClient, iid: str, entry_type: str, values: list[object]) -> None:
    for value in values:
        assert client.post(f"{API}/{iid}/history", json={"type": entry_type, "data": value}).status_code == 201


def _entry_hashes(client: FlaskClient, iid: str) -> list[bytes]:
    items = client.get(f"{API}/{iid}/history", query_string={"limit": 1000}).get_json()["items"]
    assert [item["seq"] for item in items] == list(range(len(items)))
    return [bytes.fromhex(item["hash"]) for item in items]


def _assert_tree_is_the_rfcs(store: HistoryStore, iid: str, hashes: list[bytes]) -> None:
    tree = InstanceTree(lambda seqs: store.trees.tree_hashes(iid, seqs))
    for size in range(1, len(hashes) + 1):
        root = tree_hash(size, tree.read)
        assert root == mth(hashes[:size]), size
        last = size - 1
        check_record(prove_record(size, last, tree.read), size, root, last, record_hash(hashes[last]))


def test_appends_one_at_a_time_and_in_batches_build_the_rfcs_tree(
    client: FlaskClient, store: HistoryStore, iid: str
) -> None:
    _append(client, iid, "one", list(range(7)))
    batch = [{"id": str(uuid.uuid4()), "type": "many", "data": n} for n in range(11)]
    assert client.post(f"{API}/{iid}/history/batch", json={"entries": batch}).status_code == 201
    client.post(f"{API}/{iid}/history/batch", json={"entries": batch})  # a safe retry adds nothing
    _append(client, iid, "one", [{"n": n} for n in range(5)])
    hashes = _entry_hashes(client, iid)
    assert len(hashes) == 23
    _assert_tree_is_the_rfcs(store, iid, hashes)


def test_a_clone_and_racing_writers_build_the_rfcs_tree(client: FlaskClient, store: HistoryStore, iid: str) -> None:
    _append(client, iid, "one", list(range(6)))
    target = str(uuid.uuid4())
    assert client.post(f"{API}/{iid}/clone", json={"to": target}).status_code == 201

    def write(n: int) -> None:
        for k in range(4):
            client.post(f"{API}/{target}/history", json={"type": "race", "data": [n, k]})

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    hashes = _entry_hashes(client, target)
    assert len(hashes) == 6 + 16
    _assert_tree_is_the_rfcs(store, target, hashes)


def test_an_entry_without_its_tree_leaves_the_entries_that_need_it_without_one(
    client: FlaskClient, store: HistoryStore, raw: RawAccess, iid: str
) -> None:
    _append(client, iid, "one", [0, 1])
    raw.drop_tree(iid, 1)  # as an entry stored before trees were kept
    _append(client, iid, "after", list(range(6)))
    kept = store.trees.tree_hashes(iid, list(range(8)))
    # Seq 3 needs the root of seqs 0-1, which seq 1 held; seq 7 needs that of 0-3, which seq 3 would have.
    assert sorted(kept) == [0, 2, 4, 5, 6]
    assert [len(kept[seq]) for seq in (4, 5, 6)] == [32, 64, 32]


def test_reindex_rebuilds_the_trees_an_instance_lacks(
    client: FlaskClient, app: Flask, store: HistoryStore, raw: RawAccess, iid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Saved five at a time, so that the rebuild keeps only the frontier between saves several times over.
    monkeypatch.setattr(trees, "REBUILD_BATCH", 5)
    _append(client, iid, "one", [0, 1])
    raw.drop_tree(iid, 1)
    _append(client, iid, "after", list(range(35)))
    raw.drop_tree(iid, 20)
    assert len(store.trees.tree_hashes(iid, list(range(37)))) < 37
    result = app.test_cli_runner().invoke(args=["history", "reindex", "--instance", iid])
    assert result.exit_code == 0 and f"rebuilt the tree of {iid}: 37 entries" in result.output
    _assert_tree_is_the_rfcs(store, iid, _entry_hashes(client, iid))
    result = app.test_cli_runner().invoke(args=["history", "reindex"])
    assert result.exit_code == 0 and "rebuilt the trees of" in result.output
    _assert_tree_is_the_rfcs(store, iid, _entry_hashes(client, iid))
