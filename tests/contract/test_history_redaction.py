"""Redaction on every history backend: the data is gone for good, the act is in the chain, and every proof still holds.

POST …/history/{seq}/redaction erases an entry's data (and its blob) and
appends a ``redaction`` entry naming the seq; the entry keeps its size, digest
and hash, so the chain, the tree and checkpoints issued before still verify. A
redacted entry without its redaction entry is caught by verify and by import.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from process_memory.history.service import HistoryService
from process_memory.proofs.tlog import check_record, check_tree, tree_hash
from process_memory.proofs.trees import InstanceTree
from tests.backends import RawAccess
from tests.conftest import Backend

API = "/api/v1/instances"
SECRET = "Ada Lovelace, born 1815-12-10"


def _append(client: FlaskClient, iid: str, data: Any, entry_type: str = "row") -> dict[str, Any]:
    answer = client.post(f"{API}/{iid}/history", json={"type": entry_type, "data": data})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _redact(client: FlaskClient, iid: str, seq: int, reason: str = "GDPR art. 17 request #12") -> Any:
    return client.post(f"{API}/{iid}/history/{seq}/redaction", json={"reason": reason})


def _root(service: HistoryService, iid: str, size: int) -> bytes:
    return tree_hash(size, InstanceTree(lambda seqs: service.store.trees.tree_hashes(iid, seqs)).read)


def test_a_redacted_entry_reads_as_null_and_every_proof_still_holds(
    client: FlaskClient, service: HistoryService, iid: str
) -> None:
    for n in range(4):
        _append(client, iid, {"n": n, "who": SECRET if n == 1 else "nobody"})
    before = client.get(f"{API}/{iid}/history/1").get_json()
    old_root = _root(service, iid, 4)
    answer = _redact(client, iid, 1)
    assert answer.status_code == 201
    record_seq = int(answer.headers["Location"].rsplit("/", 1)[1])
    redacted = answer.get_json()
    assert record_seq == 4 and redacted["data"] is None
    assert {k: v for k, v in redacted.items() if k not in ("data", "redacted")} == {
        k: v for k, v in before.items() if k not in ("data", "redacted")
    }
    record = client.get(f"{API}/{iid}/history/4").get_json()
    assert (record["type"], record["data"]) == ("redaction", {"seq": 1, "reason": "GDPR art. 17 request #12"})
    assert redacted["redacted"] == {"at": record["recorded_at"], "by": None, "reason": "GDPR art. 17 request #12"}
    # Every read shows it so, and nothing shows the data.
    export = client.get(f"{API}/{iid}/export").get_data(as_text=True)
    page = client.get(f"{API}/{iid}/history").get_data(as_text=True)
    for text in (export, page, client.get(f"{API}/{iid}/history/1").get_data(as_text=True)):
        assert SECRET not in text
    assert [json.loads(line)["redacted"] is not None for line in export.splitlines()] == [
        False,
        True,
        False,
        False,
        False,
    ]
    # The chain verifies, and the tree before the redaction is still the start of the tree after it.
    assert client.get(f"{API}/{iid}/verify").get_json()["ok"] is True
    inclusion = client.get(f"{API}/{iid}/proof/inclusion", query_string={"seq": 1, "size": 4}).get_json()
    check_record([bytes.fromhex(h) for h in inclusion["proof"]], 4, old_root, 1, bytes.fromhex(inclusion["leaf_hash"]))
    consistency = client.get(f"{API}/{iid}/proof/consistency", query_string={"from": 4}).get_json()
    check_tree([bytes.fromhex(h) for h in consistency["proof"]], 5, _root(service, iid, 5), 4, old_root)


def test_the_data_is_gone_from_the_database_blob_included(
    client: FlaskClient, raw: RawAccess, backend: Backend, iid: str
) -> None:
    _append(client, iid, {"who": SECRET})
    _append(client, iid, {"who": SECRET, "pad": "x" * 10_000})  # over the fixture's 4096: offloaded
    assert raw.blob_count(iid) == 1
    assert _redact(client, iid, 0).status_code == 201
    assert _redact(client, iid, 1).status_code == 201
    for seq in (0, 1):
        row = raw.entry_row(iid, seq)
        assert (row["data_json"], row.get("data_blob")) == ("null", None)
        assert SECRET not in json.dumps(row, default=str)
    assert raw.blob_count(iid) == 0
    if backend.name == "sqlite":  # erased from the file too, once VACUUM has rewritten it
        database = Path(backend.settings.database_url.removeprefix("sqlite:///"))
        backend.store.close()
        with sqlite3.connect(database) as conn:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        files = [database, *database.parent.glob(f"{database.name}-*")]
        assert not any(SECRET.encode() in path.read_bytes() for path in files)


def test_a_retry_changes_nothing_and_the_refusals(client: FlaskClient, iid: str) -> None:
    _append(client, iid, {"n": 0})
    _append(client, iid, {"n": 1}, entry_type="memory")
    assert _redact(client, iid, 0).status_code == 201
    again = _redact(client, iid, 0)
    assert again.status_code == 200 and again.get_json()["redacted"]["reason"] == "GDPR art. 17 request #12"
    assert client.get(f"{API}/{iid}").get_json()["count"] == 3  # one redaction entry, not two
    refusals = {
        (0, "another reason"): 409,  # redacted already
        (2, "x"): 409,  # the redaction entry itself
        (3, "x"): 404,  # past the head
    }
    for (seq, reason), status in refusals.items():
        answer = _redact(client, iid, seq, reason)
        assert (seq, answer.status_code) == (seq, status)
        assert set(answer.get_json()["error"]) == {"code", "message", "details"}
    assert client.post(f"{API}/{iid}/history/0/redaction", json={}).status_code == 422
    assert client.post(f"{API}/{iid}/history/0/redaction", json={"reason": ""}).status_code == 422
    memory_document = client.post(f"/{iid}/commit", json={"event": {"name": "e"}})  # folded into the memory
    assert memory_document.status_code == 201
    assert _redact(client, iid, memory_document.get_json()["seq"]).status_code == 409
    forged = client.post(f"{API}/{iid}/history", json={"type": "redaction", "data": {"seq": 1}})
    assert forged.status_code == 422  # only the service appends redaction entries
    assert client.get(f"{API}/{iid}").get_json()["count"] == 4


def test_a_redaction_without_its_chain_entry_is_caught(client: FlaskClient, raw: RawAccess, iid: str) -> None:
    for n in range(3):
        _append(client, iid, {"n": n, "who": SECRET})
    raw.update_entry(iid, 1, data_json="null", redacted_json='{"at":"x","by":null,"reason":"quietly"}')
    verdict = client.get(f"{API}/{iid}/verify").get_json()
    assert (verdict["ok"], verdict["first_bad_seq"]) == (False, 1)
    export = client.get(f"{API}/{iid}/export").get_data()
    imported = client.post(f"{API}/{uuid.uuid4()}/import", data=export, content_type="application/x-ndjson")
    assert imported.status_code == 422 and imported.get_json()["error"]["details"] == {"seq": 1}


def test_an_export_with_redactions_imports(client: FlaskClient, iid: str) -> None:
    for n in range(3):
        _append(client, iid, {"n": n})
    _redact(client, iid, 0)
    export = client.get(f"{API}/{iid}/export").get_data()
    target = str(uuid.uuid4())
    imported = client.post(f"{API}/{target}/import", data=export, content_type="application/x-ndjson")
    assert imported.status_code == 201 and imported.get_json()["count"] == 4
    assert client.get(f"{API}/{target}/verify").get_json()["ok"] is True


def test_retention_redacts_by_age_and_type(app: Flask, client: FlaskClient, service: HistoryService) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    now = {"at": start}
    service.context.clock = lambda: now["at"]
    old, young = str(uuid.uuid4()), str(uuid.uuid4())
    for iid in (old, young):
        _append(client, iid, {"who": SECRET}, entry_type="pii")
        _append(client, iid, {"n": 1}, entry_type="row")
        now["at"] += timedelta(days=300)
    now["at"] = start + timedelta(days=400)
    run = app.test_cli_runner().invoke(args=["history", "redact", "--older-than", "365d", "--type", "pii"])
    assert run.exit_code == 0, run.output
    assert "redacted 1 entries" in run.output
    shown = {
        iid: [e["redacted"] is not None for e in client.get(f"{API}/{iid}/history").get_json()["items"]]
        for iid in (old, young)
    }
    assert shown == {old: [True, False, False], young: [False, False]}
    reason = client.get(f"{API}/{old}/history/0").get_json()["redacted"]["reason"]
    assert reason.startswith("retention: recorded before 2025-02-05T00:00:00.000Z") and reason.endswith("type pii")
    assert client.get(f"{API}/{old}/verify").get_json()["ok"] is True
    for age in ("365", "0d", "1y", "d"):
        refused = app.test_cli_runner().invoke(args=["history", "redact", "--older-than", age])
        assert refused.exit_code == 2, age


def test_retention_reaches_the_newest_entry_and_spares_the_cutoff_instant(
    app: Flask, client: FlaskClient, service: HistoryService
) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    now = {"at": start}
    service.context.clock = lambda: now["at"]
    at_cutoff, all_old = str(uuid.uuid4()), str(uuid.uuid4())
    for iid, days in ((at_cutoff, (0, 1, 2)), (all_old, (0, 1))):
        for day in days:
            now["at"] = start + timedelta(days=day)
            _append(client, iid, {"day": day}, entry_type="row")

    def redacted(iid: str) -> list[bool]:
        items = client.get(f"{API}/{iid}/history?limit=100").get_json()["items"]
        return [item["redacted"] is not None for item in items if item["type"] == "row"]

    # The cutoff is day 2 exactly: "before" it is strictly before, and an instance's head is no exception.
    now["at"] = start + timedelta(days=2 + 365)
    run = app.test_cli_runner().invoke(args=["history", "redact", "--older-than", "365d"])
    assert run.exit_code == 0 and "redacted 4 entries" in run.output
    assert redacted(at_cutoff) == [True, True, False]
    assert redacted(all_old) == [True, True]  # its newest entry, the head when the run began, too
