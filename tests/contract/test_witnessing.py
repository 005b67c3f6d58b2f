"""The service log witnessed by two independent witnesses (litewitness, C2SP tlog-witness), on every history
backend: cosignatures gathered round after round, a quorum, and a rolled-back log that the witnesses refuse."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from prometheus_client import REGISTRY

from process_memory import create_app
from process_memory.anchoring import anchorer as anchorer_module
from process_memory.anchoring.leaves import ANCHORED, CHECKPOINTS, LEAVES, WITNESSED
from process_memory.anchoring.loop import AnchoringLoop
from process_memory.client.cli import main
from process_memory.history.rows import Compare
from process_memory.proofs.checkpoints import open_checkpoint
from process_memory.proofs.cosignatures import WitnessKey, cosigners
from process_memory.proofs.notes import Verifier
from process_memory.services import services
from tests.backends import rewrite_consistently
from tests.conftest import Backend
from tests.contract.conftest import Witnessed
from tests.contract.conftest import append_entries as _append
from tests.keys import witness_key
from tests.services import unavailable
from tests.test_verify_tool import VERIFIER


def test_both_witnesses_cosign_each_new_size_and_the_cosigned_checkpoint_is_served(witnessed: Witnessed) -> None:
    client = witnessed.app.test_client()
    assert client.get("/api/v1/checkpoint").status_code == 404  # nothing anchored yet
    _append(witnessed, "a", 2)
    first = witnessed.anchorer.run_round()
    _append(witnessed, "b", 1)
    _append(witnessed, "a", 1)
    second = witnessed.anchorer.run_round()  # the witnesses check the proof from 1 to 3
    names = [w.name for w in witnessed.witnesses.witnesses]
    assert (first.size, first.cosigned_by, second.size, second.cosigned_by) == (1, names, 3, names)
    assert [w.known_size(witnessed.origin) for w in witnessed.witnesses.witnesses] == [3, 3]
    served = client.get("/api/v1/checkpoint").get_json()
    assert (served["size"], served["cosigners"], served["witnessed"]) == (3, names, True)
    keys = [WitnessKey.from_key(w.verifier_key) for w in witnessed.witnesses.witnesses]
    assert sorted(cosigners(served["note"], keys)) == names  # each cosignature checks under its witness's key
    checkpoint = open_checkpoint(served["note"], [Verifier.from_key(witnessed.signer.verifier_key)])
    assert (checkpoint.origin, checkpoint.size, checkpoint.root.hex()) == (witnessed.origin, 3, served["root"])
    health = client.get("/readyz").get_json()["anchoring"]
    assert health == {"status": "ok", "published_size": 3, "signed_size": 3, "refusing": []}


def test_a_database_restored_from_an_earlier_copy_is_refused_by_both_witnesses(
    witnessed: Witnessed, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    _append(witnessed, "a", 1)
    _append(witnessed, "b", 1)
    assert witnessed.anchorer.run_round().size == 2  # the copy is taken here
    _append(witnessed, "b", 1)
    assert witnessed.anchorer.run_round().cosigned_by == [w.name for w in witnessed.witnesses.witnesses]
    # The copy restored: b's second entry, its leaf, the checkpoint of 3 and the witnesses' sizes as they were.
    backend.raw.delete_entry("b", 1)
    backend.raw.set_summary_head("b", 0)
    rows = backend.store.rows
    rows.delete(LEAVES, [Compare("position", ">=", 2)])
    rows.delete(CHECKPOINTS, [Compare("size", ">=", 3)])
    rows.put(ANCHORED, {"instance_id": "b", "size": 1, "position": 1})
    for witness in witnessed.witnesses.witnesses:
        rows.put(WITNESSED, {"name": witness.name, "size": 2}, insert=False)
    _append(witnessed, "c", 1)
    names = [w.name for w in witnessed.witnesses.witnesses]
    before = [REGISTRY.get_sample_value(_REFUSALS, {"witness": name, "status": "422"}) or 0 for name in names]
    with caplog.at_level(logging.WARNING, logger="process_memory.anchoring.anchorer"):
        report = AnchoringLoop(witnessed.anchorer, 1).run_round()  # c's leaf takes b's second's place: a fork
    assert report is not None and report.size == 3 and report.cosigned_by == []
    after = [REGISTRY.get_sample_value(_REFUSALS, {"witness": name, "status": "422"}) for name in names]
    assert after == [count + 1 for count in before]  # counted in /metrics, per witness and status
    # The anchorer's own records: another app's background thread (a state sweep) may log meanwhile.
    said = [record for record in caplog.records if record.name == "process_memory.anchoring.anchorer"]
    assert sorted(record.getMessage() for record in said) == [
        f"witness {name} refused service checkpoint 3 (422: bad consistency proof)" for name in names
    ]
    # Each witness says it holds 3 (409); from 3, the new tree of 3 is not the one it cosigned (422).
    assert {name: refusal.status for name, refusal in report.refusals.items()} == {
        w.name: 422 for w in witnessed.witnesses.witnesses
    }
    assert [w.known_size(witnessed.origin) for w in witnessed.witnesses.witnesses] == [3, 3]
    client = witnessed.app.test_client()
    assert client.get("/api/v1/checkpoint").get_json()["size"] == 2  # the restored copy's, never the fork
    health = client.get("/readyz").get_json()
    assert health["status"] == "ready" and health["anchoring"]["status"] == "quorum lost"
    assert health["anchoring"]["refusing"] == sorted(w.name for w in witnessed.witnesses.witnesses)


_REFUSALS = "process_memory_witness_refusals_total"


def _saved(path: Path, body: str) -> str:
    path.write_text(body)
    return str(path)


def _pm_verify(*args: str) -> subprocess.CompletedProcess[str]:
    if not VERIFIER.exists():
        unavailable("the Go verifier is not built (needs Go; `make test` builds it with tools/verify/build.sh)")
    return subprocess.run([str(VERIFIER), *args], capture_output=True, text=True, timeout=60)


def _verify(*args: str) -> Result:
    return CliRunner().invoke(main, ["verify", *args])


def test_verify_checks_the_anchor_and_its_quorum_and_refuses_a_rewritten_history(
    witnessed: Witnessed, backend: Backend, tmp_path: Path
) -> None:
    client = witnessed.app.test_client()
    _append(witnessed, "run", 3)
    witnessed.anchorer.run_round()
    _append(witnessed, "run", 1)  # a later tree, anchored by the next round
    witnessed.anchorer.run_round()
    export = _saved(tmp_path / "run.ndjson", client.get("/api/v1/instances/run/export").text)
    service_key = witnessed.signer.verifier_key
    witness_keys = [arg for w in witnessed.witnesses.witnesses for arg in ("--witness-key", w.verifier_key)]
    for size, anchored_size in ((3, 3), (2, 3), (4, 4)):
        checkpoint = _saved(tmp_path / f"cp{size}", client.get(f"/api/v1/instances/run/checkpoint?size={size}").text)
        anchor = client.get(f"/api/v1/instances/run/anchor?size={size}").get_json()
        assert anchor["anchored_size"] == anchored_size
        anchor_file = _saved(tmp_path / f"anchor{size}.json", json.dumps(anchor))
        given = ["--checkpoint", checkpoint, "--key", service_key, "--anchor", anchor_file]
        checked = _verify(export, *given, *witness_keys)
        assert checked.exit_code == 0, checked.output
        assert (
            f"anchored: the tree at size {size} is leaf {anchor['leaf_index']} of {witnessed.origin}" in checked.output
        )
        assert "cosigned by w1.witness.test, w2.witness.test" in checked.output
    # A witness that never cosigned counts for nothing: one cosignature of the two needed.
    stranger = witness_key("w3.witness.test")
    one = _verify(export, *given, *witness_keys[:2], "--witness-key", stranger, "--quorum", "2")
    assert one.exit_code == 1 and "cosigned by 1 of the 2 witnesses needed" in one.output
    # One witness key short of the quorum asked for: refused.
    short = _verify(
        export,
        "--checkpoint",
        checkpoint,
        "--key",
        service_key,
        "--anchor",
        anchor_file,
        *witness_keys[:2],
        "--quorum",
        "2",
    )
    assert short.exit_code == 2 and "quorum of 2 needs as many witness keys" in short.output
    # The operator rewrites run in a copy of the database and signs the copy's tree with the service's key: the
    # export checks against that checkpoint, but the tree the witnesses anchored is another.
    forged_app = create_app(
        dataclasses.replace(
            witnessed.app.config["SETTINGS"], database_url=f"sqlite:///{tmp_path / 'forged.db'}", docdb_uri=None
        )
    )
    forged = forged_app.test_client()
    for n in (0, 1, 99):
        assert forged.post("/api/v1/instances/run/history", json={"type": "t", "data": n}).status_code == 201
    forged_export = _saved(tmp_path / "forged.ndjson", forged.get("/api/v1/instances/run/export").text)
    forged_cp = _saved(tmp_path / "forged.cp", forged.get("/api/v1/instances/run/checkpoint").text)
    anchor3 = str(tmp_path / "anchor3.json")
    alone = _verify(forged_export, "--checkpoint", forged_cp, "--key", service_key)
    assert alone.exit_code == 0  # signed by the service's own key, the rewrite passes on its own
    caught = _verify(forged_export, "--checkpoint", forged_cp, "--key", service_key, "--anchor", anchor3, *witness_keys)
    assert caught.exit_code == 1
    assert "the anchor: the anchored tree of size 3 does not extend the checkpoint's tree of size 3" in caught.output
    # The Go verifier (x/mod's tlog and note, transparency-dev/formats' cosignature verifier) agrees on both.
    go_witness_keys = [arg.replace("--witness-key", "-witness-key") for arg in witness_keys]
    held = _pm_verify("anchor", "-key", service_key, *go_witness_keys, str(tmp_path / "cp3"), anchor3)
    assert held.returncode == 0, held.stderr
    assert f"ok: {witnessed.origin}/run at size 3 is leaf 0 of {witnessed.origin} at size" in held.stdout
    assert "cosigned by w1.witness.test, w2.witness.test" in held.stdout
    forged_go = _pm_verify("anchor", "-key", service_key, *go_witness_keys, forged_cp, anchor3)
    assert forged_go.returncode == 1 and "is not the checkpoint's tree" in forged_go.stderr
    stranger_go = _pm_verify(
        "anchor",
        "-key",
        service_key,
        *go_witness_keys[:2],
        "-witness-key",
        stranger,
        "-quorum",
        "2",
        str(tmp_path / "cp3"),
        anchor3,
    )
    assert stranger_go.returncode == 1 and "cosigned by 1 of the 2 witnesses needed" in stranger_go.stderr


def test_the_badge_names_the_cosigners_and_fails_a_consistent_rewrite(witnessed: Witnessed, backend: Backend) -> None:
    client = witnessed.app.test_client()
    _append(witnessed, "solo", 1)
    witnessed.anchorer.run_round()
    badge = client.get("/ui/instances/solo/badge").get_data(as_text=True)
    assert "the chain holds; the tree at size 1 is anchored in service checkpoint 1, cosigned by " in badge
    assert re.search(r"w1\.witness\.test at \S+Z and w2\.witness\.test at \S+Z", badge)
    # The operator rewrites the entry, its hash and its tree consistently: the chain and the tree still agree.
    rewrite_consistently(backend.store, "solo", 0, b'{"n":666}')
    services(witnessed.app).history.trees.rebuild_tree("solo")
    rewritten = client.get("/ui/instances/solo/badge").get_data(as_text=True)
    assert "✘ failed" in rewritten and "the tree at size 1 is not the one anchored" in rewritten


def test_a_witness_away_holds_the_quorum_back_until_it_answers_again(witnessed: Witnessed) -> None:
    client = witnessed.app.test_client()
    first, second = witnessed.witnesses.witnesses
    _append(witnessed, "a", 1)
    assert witnessed.anchorer.run_round().cosigned_by == [first.name, second.name]
    second.stop()
    try:
        _append(witnessed, "b", 1)
        away = witnessed.anchorer.run_round()
        assert (away.size, away.cosigned_by, away.refusals[second.name].status) == (2, [first.name], None)
        assert client.get("/api/v1/checkpoint").get_json()["size"] == 1  # the quorum is two
        health = client.get("/readyz").get_json()
        assert (health["status"], health["anchoring"]["status"], health["anchoring"]["refusing"]) == (
            "ready",
            "quorum lost",
            [second.name],
        )
    finally:
        second.start()
    back = witnessed.anchorer.run_round()  # nothing new to anchor: the waiting checkpoint is offered again
    assert (back.size, back.cosigned_by) == (2, [second.name])
    served = client.get("/api/v1/checkpoint").get_json()
    assert (served["size"], served["cosigners"]) == (2, [first.name, second.name])
    assert client.get("/readyz").get_json()["anchoring"]["status"] == "ok"


def test_no_witness_is_asked_before_the_leaves_and_their_checkpoint_are_on_disk(
    witnessed: Witnessed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leaves and their checkpoint are committed without waiting for the flush; a witness that cosigned a
    checkpoint a crash then lost would refuse the log for good, so the round waits for the flush first."""
    events: list[str] = []
    rows = witnessed.anchorer.store.rows
    durable_wait = rows.wait_until_durable
    monkeypatch.setattr(rows, "wait_until_durable", lambda: (events.append("flushed"), durable_wait())[1])
    asking = anchorer_module._ask
    monkeypatch.setattr(anchorer_module, "_ask", lambda *args: (events.append("asked"), asking(*args))[1])
    _append(witnessed, "a", 1)
    assert witnessed.anchorer.run_round().cosigned_by == [w.name for w in witnessed.witnesses.witnesses]
    assert events == ["flushed", "asked", "asked"]
