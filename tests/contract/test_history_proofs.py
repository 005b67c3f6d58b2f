"""Checkpoints and proofs of an instance's tree (history/proving.py), on every history backend.

Every proof the service makes from what a backend stored checks against the
signed checkpoint with the Python checker, and the Go verifier (tools/verify,
on x/mod's tlog and note) accepts them from the same JSON an auditor would hold.
"""

from __future__ import annotations

import json
import random
import subprocess
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from process_memory.entry import NewEntry
from process_memory.exceptions import Conflict, NotFound
from process_memory.history.service import HistoryService
from process_memory.proofs.checkpoints import open_checkpoint
from process_memory.proofs.notes import Signer, Verifier, generate_key
from process_memory.proofs.tlog import check_record, check_tree
from tests.backends import RawAccess
from tests.conftest import HISTORY_BACKENDS
from tests.services import unavailable
from tests.test_tlog import mth, path, proof
from tests.test_verify_tool import VERIFIER

API = "/api/v1/instances"
ORIGIN = "pm.test"


@pytest.fixture(scope="module")
def keys() -> tuple[Signer, Verifier, str]:
    signer_key, verifier_key = generate_key("pm.test")
    return Signer.from_key(signer_key), Verifier.from_key(verifier_key), verifier_key


def _fill(client: FlaskClient, iid: str, count: int) -> list[str]:
    for n in range(count):
        assert client.post(f"{API}/{iid}/history", json={"type": "row", "data": n}).status_code == 201
    items = client.get(f"{API}/{iid}/history", query_string={"limit": 1000}).get_json()["items"]
    return [item["hash"] for item in items]


def test_every_proof_checks_against_the_signed_checkpoints(
    client: FlaskClient, service: HistoryService, keys: tuple[Signer, Verifier, str], iid: str
) -> None:
    signer, verifier, _ = keys
    hashes = _fill(client, iid, 12)
    roots = {}
    for size in range(1, 13):
        signed = service.prover.checkpoint(iid, signer, ORIGIN, size)
        opened = open_checkpoint(signed.note, [verifier])
        assert (opened.origin, opened.size, opened.root.hex()) == (f"{ORIGIN}/{iid}", size, signed.root)
        assert signed.head_hash == hashes[size - 1] and opened.extensions == (f"head {hashes[size - 1]}",)
        roots[size] = opened.root
        for seq in range(size):
            proof = service.prover.inclusion_proof(iid, seq, size)
            hashes_of = [bytes.fromhex(h) for h in proof.proof]
            check_record(hashes_of, size, opened.root, seq, bytes.fromhex(proof.leaf_hash))
        for old in range(1, size + 1):
            consistency = service.prover.consistency_proof(iid, old, size)
            check_tree([bytes.fromhex(h) for h in consistency.proof], size, opened.root, old, roots[old])
    assert service.prover.checkpoint(iid, signer, ORIGIN).size == 12  # the default: every entry


def test_the_go_verifier_accepts_the_services_checkpoints_and_proofs(
    client: FlaskClient, service: HistoryService, keys: tuple[Signer, Verifier, str], iid: str, tmp_path: Path
) -> None:
    if not VERIFIER.exists():
        unavailable("the Go verifier is not built (needs Go; `make test` builds it with tools/verify/build.sh)")
    signer, _, verifier_key = keys
    hashes = _fill(client, iid, 9)
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text(service.prover.checkpoint(iid, signer, ORIGIN, 5).note)
    new.write_text(service.prover.checkpoint(iid, signer, ORIGIN).note)
    inclusion = service.prover.inclusion_proof(iid, 3)
    consistency = service.prover.consistency_proof(iid, 5)
    (tmp_path / "i.json").write_text(json.dumps(vars(inclusion)))
    shown = {"from": consistency.from_, "to": consistency.to, "proof": consistency.proof}
    (tmp_path / "c.json").write_text(json.dumps(shown))

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VERIFIER), *map(str, args)], capture_output=True, text=True, timeout=60)

    checked = run("inclusion", "-key", verifier_key, "-entry-hash", hashes[3], new, tmp_path / "i.json")
    assert checked.returncode == 0, checked.stderr
    checked = run("consistency", "-key", verifier_key, old, new, tmp_path / "c.json")
    assert checked.returncode == 0, checked.stderr
    assert run("inclusion", "-key", verifier_key, "-entry-hash", hashes[4], new, tmp_path / "i.json").returncode == 1


def test_what_cannot_be_proven_is_refused(
    client: FlaskClient, service: HistoryService, raw: RawAccess, keys: tuple[Signer, Verifier, str], iid: str
) -> None:
    signer = keys[0]
    _fill(client, iid, 4)
    for refused in (
        lambda: service.prover.inclusion_proof(iid, 4),
        lambda: service.prover.inclusion_proof(iid, -1),
        lambda: service.prover.inclusion_proof(iid, 2, 2),
        lambda: service.prover.consistency_proof(iid, 0),
        lambda: service.prover.consistency_proof(iid, 3, 2),
        lambda: service.prover.checkpoint(iid, signer, ORIGIN, 5),
        lambda: service.prover.checkpoint(iid, signer, ORIGIN, 0),
    ):
        with pytest.raises(NotFound):  # a tree or an entry that does not exist, as an entry past the head
            refused()
    with pytest.raises(NotFound):
        service.prover.inclusion_proof(str(uuid.uuid4()), 0)
    raw.drop_tree(iid, 3)  # as an entry stored before trees were kept: it held the root of seqs 0-3
    with pytest.raises(Conflict, match="history reindex"):
        service.prover.checkpoint(iid, signer, ORIGIN)
    assert service.prover.checkpoint(iid, signer, ORIGIN, 3).size == 3  # a tree of three needs nothing seq 3 held


def _entry_hashes(service: HistoryService, iid: str) -> list[bytes]:
    return [bytes.fromhex(stored.hash) for stored in service.store.entries.iter_chain(iid)]


def test_every_pair_in_trees_of_up_to_33_entries_is_rfc_6962s(
    client: FlaskClient, service: HistoryService, keys: tuple[Signer, Verifier, str], iid: str
) -> None:
    # The independent reference is RFC 6962's own recursive definitions (tests/test_tlog.py), over the leaves
    # a backend holds: every root, every audit path and every consistency proof, for every pair.
    signer, verifier, _ = keys
    _fill(client, iid, 33)
    records = _entry_hashes(service, iid)
    for size in range(1, 34):
        leaves = records[:size]
        root = open_checkpoint(service.prover.checkpoint(iid, signer, ORIGIN, size).note, [verifier]).root
        assert root == mth(leaves)
        for seq in range(size):
            assert [bytes.fromhex(h) for h in service.prover.inclusion_proof(iid, seq, size).proof] == path(seq, leaves)
        for old in range(1, size + 1):
            assert [bytes.fromhex(h) for h in service.prover.consistency_proof(iid, old, size).proof] == proof(
                old, leaves
            )


# mongomock checks unique indexes by scanning: 10,000 entries take it minutes. It is a fast fake, not a backend.
@pytest.mark.parametrize("backend", [name for name in HISTORY_BACKENDS if name != "mongomock"], indirect=True)
def test_random_pairs_at_ten_thousand_entries(
    service: HistoryService, keys: tuple[Signer, Verifier, str], iid: str, tmp_path: Path
) -> None:
    signer, verifier, verifier_key = keys
    records: list[bytes] = []
    for first in range(0, 10_000, 1000):
        batch = service.appender.append_entries(iid, [NewEntry(type="row", data=n) for n in range(first, first + 1000)])
        records += [bytes.fromhex(stored.hash) for stored, _ in batch]
    assert service.reader.get_instance(iid).count == len(records) == 10_000
    draw = random.Random(6962)
    go_checks: list[list[str]] = []
    for case in range(24):
        size = draw.randint(1, 10_000)
        seq, old = draw.randrange(size), draw.randint(1, size)
        note = service.prover.checkpoint(iid, signer, ORIGIN, size).note
        root = open_checkpoint(note, [verifier]).root
        assert root == mth(records[:size])
        inclusion = service.prover.inclusion_proof(iid, seq, size)
        assert [bytes.fromhex(h) for h in inclusion.proof] == path(seq, records[:size])
        consistency = service.prover.consistency_proof(iid, old, size)
        assert [bytes.fromhex(h) for h in consistency.proof] == proof(old, records[:size])
        if case < 8:  # and the Go verifier, from the files an auditor would hold
            files = {"new.cp": note, "old.cp": service.prover.checkpoint(iid, signer, ORIGIN, old).note}
            files |= {"i.json": json.dumps(vars(inclusion))}
            files |= {"c.json": json.dumps({"from": old, "to": size, "proof": consistency.proof})}
            folder = tmp_path / str(case)
            folder.mkdir()
            for name, text in files.items():
                (folder / name).write_text(text)
            go_checks.append(["inclusion", "-entry-hash", records[seq].hex(), f"{folder}/new.cp", f"{folder}/i.json"])
            go_checks.append(["consistency", f"{folder}/old.cp", f"{folder}/new.cp", f"{folder}/c.json"])
    if not VERIFIER.exists():
        unavailable("the Go verifier is not built (needs Go; `make test` builds it with tools/verify/build.sh)")
    for command, *args in go_checks:
        run = subprocess.run([str(VERIFIER), command, "-key", verifier_key, *args], capture_output=True, timeout=60)
        assert run.returncode == 0, run.stderr
