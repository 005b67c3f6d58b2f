"""An auditor's offline check of a whole export, on every history backend, by both verifiers.

``process-memory verify`` (Python) and ``pm-verify export`` (Go, written from
docs/storage.md alone) take an export, a signed checkpoint and a verifier key.
They must accept what the service exports, whatever JSON the entries hold, and
catch a database owner who rewrites history consistently, truncates it,
reorders it or erases data without recording it — against any checkpoint issued
before.
"""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from process_memory import create_app
from process_memory.chain import canonical_json, sha256_hex
from process_memory.client.cli import main
from process_memory.entry import chain_hash
from process_memory.history.service import HistoryService
from process_memory.proofs.notes import Signer, generate_key
from process_memory.proofs.tlog import check_tree
from tests.backends import RawAccess
from tests.conftest import Backend
from tests.keys import write_test_keys
from tests.services import unavailable
from tests.test_verify_tool import VERIFIER

API = "/api/v1/instances"
#: JSON whose canonical form is easy to get wrong: docs/storage.md's table, one value per case.
AWKWARD = [
    {"big": 123456789012345678901234567890, "negative": -98765432109876543210, "zero": -0},
    {"floats": [-0.0, 0.0, 1e-7, 1e21, 1e16, 1e15, 123456789012345680.0, 0.0001, 1.5, -2.5e-300, 1e300, 100.0]},
    {"\U0001d11e clef": 1, "\ue000 private": 2, "z": 3, "é": 4, "": 5, "A": 6},
    {"text": 'quote " backslash \\ / slash \b\f\n\r\t \x00 \x1f \x7f \u2028 \u2029 </script> é 日本 \U0001f600'},
    [None, True, False, [], {}, "", [[[]]]],
    "a string alone",
    12,
    None,
]


@pytest.fixture
def auditor(backend: Backend, tmp_path: Path) -> tuple[Flask, str]:
    """An app of the backend that signs checkpoints, requires keys (so entries carry recorded_by), and the
    verifier key it publishes."""
    signer_key, verifier_key = generate_key("pm.audit")
    keys = write_test_keys(tmp_path)
    settings = dataclasses.replace(
        backend.settings,
        signing_key=Signer.from_key(signer_key),
        log_origin="pm.audit",
        api_keys=keys.configured(),
    )
    app = create_app(settings, history_store=backend.store)
    app.config["TEST_KEYS"] = keys
    return app, verifier_key


class Audit:
    """Fetches what an auditor keeps, and runs both verifiers on it."""

    def __init__(self, app: Flask, key: str, directory: Path, iid: str) -> None:
        self.client: FlaskClient = app.test_client()
        self.auth = app.config["TEST_KEYS"].bearer("all")
        self.key, self.directory, self.iid = key, directory, iid

    def get(self, path: str, **query: Any) -> Any:
        return self.client.get(f"{API}/{self.iid}{path}", query_string=query, headers=self.auth)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"{API}/{self.iid}{path}", json=body, headers=self.auth)

    def save(self, name: str, content: str | bytes) -> Path:
        path = self.directory / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def checkpoint(self, name: str, **query: Any) -> Path:
        return self.save(name, self.get("/checkpoint", **query).get_json()["note"])

    def export(self, name: str = "export.ndjson") -> Path:
        return self.save(name, self.get("/export").get_data())

    def python(self, export: Path, checkpoint: Path, key: str | None = None) -> tuple[int, str]:
        args = ["verify", str(export), "--checkpoint", str(checkpoint), "--key", key or self.key]
        run = CliRunner().invoke(main, args)
        return run.exit_code, run.output

    def go(self, export: Path, checkpoint: Path, key: str | None = None) -> tuple[int, str]:
        if not VERIFIER.exists():
            unavailable("the Go verifier is not built (needs Go; `make test` builds it with tools/verify/build.sh)")
        args = [str(VERIFIER), "export", "-key", key or self.key, str(checkpoint), str(export)]
        run = subprocess.run(args, capture_output=True, text=True, timeout=120)
        return run.returncode, run.stdout + run.stderr

    def both(self, export: Path, checkpoint: Path, key: str | None = None) -> list[tuple[int, str]]:
        return [self.python(export, checkpoint, key), self.go(export, checkpoint, key)]


@pytest.fixture
def audit(auditor: tuple[Flask, str], tmp_path: Path, iid: str) -> Audit:
    """An auditor of instance ``iid``."""
    return Audit(*auditor, tmp_path, iid)


def _fill(audit: Audit, values: list[Any]) -> None:
    for value in values:
        answer = audit.post("/history", {"type": "row", "data": value})
        assert answer.status_code == 201, answer.get_json()


def _rewrite(
    service: HistoryService, raw: RawAccess, iid: str, start: int, change: Callable[[int, dict[str, Any]], None]
) -> None:
    """Rewrite history as a database owner can: ``change`` entries from ``start`` on, then recompute each one's
    digest and hash and every later link, and rebuild the tree, so the service's own verify finds nothing."""
    chain = list(service.store.entries.iter_chain(iid))
    prev = chain[start - 1].hash if start else None
    for stored in chain[start:]:
        fields = dict(vars(stored))
        change(stored.seq, fields)
        data = fields["data_json"].encode()
        fields.update(size=len(data), data_sha256=sha256_hex(data), prev_hash=prev)
        fields["hash"] = prev = chain_hash(fields)
        names = ("id", "type", "data_json", "metadata_json", "size", "data_sha256", "prev_hash", "hash")
        raw.update_entry(iid, stored.seq, **{name: fields[name] for name in names})
    service.trees.rebuild_tree(iid)


def test_both_verifiers_accept_what_the_service_exports(audit: Audit) -> None:
    _fill(audit, AWKWARD)
    assert audit.post("/history/2/redaction", {"reason": "test"}).status_code == 201
    _fill(audit, [{"pad": "x" * 10_000}])  # offloaded: over the fixture's 4096 bytes
    export, latest, early = audit.export(), audit.checkpoint("latest.cp"), audit.checkpoint("early.cp", size=3)
    for code, output in [*audit.both(export, latest), *audit.both(export, early)]:
        assert (code, output.startswith("ok: ")) == (0, True), output
    # The checkpoint file may be the checkpoint route's whole body too.
    body = audit.save("body.json", audit.get("/checkpoint").get_data())
    assert [code for code, _ in audit.both(export, body)] == [0, 0]
    # Every line hashes as the document says: the Go side agreeing on AWKWARD is the proof of that.
    assert canonical_json(AWKWARD[1]["floats"]) == (
        b"[-0.0,0.0,1e-07,1e+21,1e+16,1000000000000000.0,1.2345678901234568e+17,0.0001,1.5,-2.5e-300,1e+300,100.0]"
    )


def test_a_consistent_rewrite_is_caught_against_an_earlier_checkpoint(
    audit: Audit, service: HistoryService, raw: RawAccess
) -> None:
    _fill(audit, [{"amount": n} for n in range(12)])
    before = audit.checkpoint("before.cp")
    old_root = audit.get("/checkpoint").get_json()["root"]

    def richer(seq: int, fields: dict[str, Any]) -> None:
        if seq == 4:
            fields["data_json"] = canonical_json({"amount": 4_000_000}).decode()

    _rewrite(service, raw, audit.iid, 4, richer)
    assert audit.get("/verify").get_json()["ok"] is True  # the chain alone cannot tell
    export = audit.export()
    assert [code for code, _ in audit.both(export, audit.checkpoint("after.cp"))] == [0, 0]
    for code, output in audit.both(export, before):
        assert code == 1 and "seq 11" in output and "changed, removed or reordered" in output, output
    # Nor can the service prove that its new tree extends the one it signed before.
    proof = audit.get("/proof/consistency", **{"from": 12}).get_json()["proof"]
    new_root = bytes.fromhex(audit.get("/checkpoint").get_json()["root"])
    with pytest.raises(ValueError):
        check_tree([bytes.fromhex(h) for h in proof], 12, new_root, 12, bytes.fromhex(old_root))


def test_truncation_and_reordering_are_caught(audit: Audit, service: HistoryService, raw: RawAccess) -> None:
    _fill(audit, [{"n": n} for n in range(9)])
    before = audit.checkpoint("before.cp")
    content = {
        seq: (stored.id, stored.type, stored.data_json)
        for seq, stored in enumerate(service.store.entries.iter_chain(audit.iid))
    }

    def swapped(seq: int, fields: dict[str, Any]) -> None:
        source = {2: 5, 5: 2}.get(seq, seq)
        fields["id"], fields["type"], fields["data_json"] = content[source]

    raw.update_entry(audit.iid, 5, id=str(uuid.uuid4()))  # out of the way: ids are unique in an instance
    _rewrite(service, raw, audit.iid, 2, swapped)
    for code, output in audit.both(audit.export("reordered.ndjson"), before):
        assert code == 1 and "seq 8" in output, output
    for seq in (8, 7):
        raw.delete_entry(audit.iid, seq)
    raw.set_summary_head(audit.iid, 6)
    for code, output in audit.both(audit.export("cut.ndjson"), before):
        assert code == 1 and "seq 7" in output and "missing" in output, output


def test_redaction_passes_only_with_its_chain_entry(audit: Audit, raw: RawAccess) -> None:
    _fill(audit, [{"who": f"person {n}"} for n in range(4)])
    before = audit.checkpoint("before.cp")
    assert audit.post("/history/1/redaction", {"reason": "erasure request"}).status_code == 201
    assert [code for code, _ in audit.both(audit.export(), before)] == [0, 0]
    raw.update_entry(audit.iid, 3, data_json="null", redacted_json='{"at":"x","by":null,"reason":"quiet"}')
    for code, output in audit.both(audit.export("quiet.ndjson"), before):
        assert code == 1 and "seq 3" in output and "no redaction entry" in output, output


def test_a_checkpoint_from_an_unknown_key_or_altered_is_refused(audit: Audit) -> None:
    _fill(audit, [1, 2, 3])
    export, checkpoint = audit.export(), audit.checkpoint("cp")
    stranger = generate_key("pm.audit")[1]  # the same name, another key
    assert [code for code, _ in audit.both(export, checkpoint, stranger)] == [1, 1]
    text = checkpoint.read_text()
    middle = text.rindex(" ") + 30  # a byte in the middle of the signature
    resigned = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    for altered in (text.replace("\n3\n", "\n2\n", 1), resigned):
        assert [code for code, _ in audit.both(export, audit.save("altered.cp", altered))] == [1, 1]
    other = str(uuid.uuid4())  # a checkpoint of another instance's log
    audit.client.post(f"{API}/{other}/history", json={"type": "row", "data": 1}, headers=audit.auth)
    foreign = audit.save(
        "foreign.cp", audit.client.get(f"{API}/{other}/checkpoint", headers=audit.auth).get_json()["note"]
    )
    for code, output in audit.both(export, foreign):
        assert code == 1 and "seq 0" in output, output
    assert audit.python(export, checkpoint, "not a key")[0] == 2
