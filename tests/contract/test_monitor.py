"""The monitor (client/monitor.py, ``process-memory monitor``) against a service log two litewitness cosign, on
every history backend: nothing to report while the log grows honestly, and a finding for an instance rewritten
and re-signed, a database restored from an earlier copy (or a fork served beside the witnessed one), an instance
deleted entirely; a redaction changes nothing it checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from process_memory.anchoring.anchorer import Anchorer
from process_memory.anchoring.leaves import ANCHORED, CHECKPOINTS, LEAVES, WITNESSED
from process_memory.client import Client
from process_memory.client import monitor as monitor_module
from process_memory.client.cli import main
from process_memory.client.monitor import Monitor, MonitorState
from process_memory.history.rows import Compare
from process_memory.proofs.cosignatures import WitnessKey
from process_memory.proofs.notes import Verifier
from process_memory.services import services
from tests.backends import rewrite_consistently
from tests.conftest import Backend
from tests.contract.conftest import Witnessed
from tests.contract.conftest import append_entries as _append


def _monitor_of(witnessed: Witnessed, directory: Path, list_pages: int = 100) -> Monitor:
    """A monitor of the witnessed app, over HTTP (in process), keeping its state in ``directory``."""
    client = Client("http://pm.test", transport=httpx.WSGITransport(app=witnessed.app))
    keys = [WitnessKey.from_key(w.verifier_key) for w in witnessed.witnesses.witnesses]
    service_keys = [Verifier.from_key(witnessed.signer.verifier_key)]
    return Monitor(client, MonitorState(directory), service_keys, keys, 2, list_pages=list_pages)


@pytest.fixture
def monitor(witnessed: Witnessed, tmp_path: Path) -> Monitor:
    """A monitor of the witnessed app, keeping its state in the test's directory."""
    return _monitor_of(witnessed, tmp_path / "monitor")


def _findings(monitor: Monitor) -> list[dict[str, object]]:
    return [finding.line() for finding in monitor.run_once()]


def test_an_honest_log_gives_nothing_to_report_and_is_accepted(witnessed: Witnessed, monitor: Monitor) -> None:
    _append(witnessed, "a", 2)
    _append(witnessed, "b", 1)
    witnessed.anchorer.run_round()
    assert _findings(monitor) == []
    _append(witnessed, "a", 3)
    witnessed.anchorer.run_round()
    client = witnessed.app.test_client()
    assert client.post("/api/v1/instances/a/history/1/redaction", json={"reason": "test"}).status_code == 201
    witnessed.anchorer.run_round()  # the redaction entry grows a: its tree still extends the anchored one
    assert _findings(monitor) == []
    assert monitor.state.accepted()[0] == 4
    assert [size for size, _ in monitor.state.anchored("a")] == [2, 5, 6]


def _anchored_twice(witnessed: Witnessed, instance_id: str) -> None:
    """Append an entry to the instance and anchor it, twice: two leaves, of sizes 1 and 2."""
    for _ in range(2):
        _append(witnessed, instance_id, 1)
        witnessed.anchorer.run_round()


def test_a_tree_anchored_again_at_the_same_size_by_a_dead_writer_s_successor_is_no_finding(
    witnessed: Witnessed, monitor: Monitor, backend: Backend
) -> None:
    _anchored_twice(witnessed, "x")  # x at 2, its size not written out: the writer dies here
    later = lambda: datetime.now(UTC) + timedelta(seconds=16)  # noqa: E731 - past the dead writer's lease
    successor = Anchorer(backend.store, witnessed.anchorer.settings, later, holder="successor")
    assert successor.run_round().appended == 1
    assert _findings(monitor) == []
    assert monitor.state.accepted()[0] == 3  # the log of three leaves, x at 2 twice, read and accepted


def test_an_instance_rewritten_and_re_signed_is_reported_with_where(
    witnessed: Witnessed, monitor: Monitor, backend: Backend
) -> None:
    _anchored_twice(witnessed, "solo")
    assert _findings(monitor) == []
    # Entry 1 is rewritten, its hash and tree recomputed: the chain, the tree and fresh checkpoints agree.
    rewrite_consistently(backend.store, "solo", 1, b'{"n":666}')
    services(witnessed.app).history.trees.rebuild_tree("solo")
    _append(witnessed, "solo", 1)
    witnessed.anchorer.run_round()  # the service log itself is appended honestly: the witnesses cosign
    assert _findings(monitor) == [
        {
            "finding": "an instance was rewritten",
            "leaf": 2,
            "instance_id": "solo",
            "anchored_size": 2,
            "size": 3,
            "seq_from": 1,
            "seq_to": 1,
        }
    ]


def test_a_restored_copy_or_a_fork_is_reported_and_an_instance_deleted_by_id(
    witnessed: Witnessed, monitor: Monitor, backend: Backend
) -> None:
    _append(witnessed, "a", 1)
    _append(witnessed, "b", 1)
    witnessed.anchorer.run_round()
    _append(witnessed, "c", 1)
    witnessed.anchorer.run_round()
    assert _findings(monitor) == []
    # The database as its copy before c: the witnesses refuse the fork it grows into; the monitor sees it shrink.
    backend.raw.delete_instance("c")
    rows = backend.store.rows
    rows.delete(LEAVES, [Compare("position", ">=", 2)])
    rows.delete(CHECKPOINTS, [Compare("size", ">=", 3)])
    rows.delete(ANCHORED, [Compare("instance_id", "==", "c")])
    for witness in witnessed.witnesses.witnesses:
        rows.put(WITNESSED, {"name": witness.name, "size": 2}, insert=False)
    _append(witnessed, "d", 1)
    forked = witnessed.anchorer.run_round()
    assert forked.size == 3 and forked.cosigned_by == []  # only the witnessed fork gathers a quorum
    assert _findings(monitor) == [
        {"finding": "the service log shrank: a rollback or a fork", "accepted_size": 3, "size": 2}
    ]
    assert monitor.state.accepted()[0] == 3  # nothing of the fork accepted


def test_an_instance_deleted_entirely_is_reported_by_id(
    witnessed: Witnessed, monitor: Monitor, backend: Backend
) -> None:
    _append(witnessed, "kept", 1)
    _append(witnessed, "gone", 2)
    witnessed.anchorer.run_round()
    assert _findings(monitor) == []
    backend.raw.delete_instance("gone")
    assert _findings(monitor) == [{"finding": "an instance was deleted", "instance_id": "gone", "anchored_size": 2}]


def test_the_command_prints_a_line_per_finding_and_exits_1(
    witnessed: Witnessed, backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _append(witnessed, "gone", 1)
    witnessed.anchorer.run_round()
    transport = httpx.WSGITransport(app=witnessed.app)
    monkeypatch.setattr("process_memory.client.api.httpx.Client", _with_transport(transport))
    args = ["--url", "http://pm.test", "monitor", "--state", str(tmp_path / "state")]
    args += ["--key", witnessed.signer.verifier_key]
    args += [arg for w in witnessed.witnesses.witnesses for arg in ("--witness-key", w.verifier_key)]
    first = CliRunner().invoke(main, args)
    assert (first.exit_code, first.output) == (0, "")
    backend.raw.delete_instance("gone")
    second = CliRunner().invoke(main, [*args, "--json"])
    assert second.exit_code == 1
    assert [json.loads(line) for line in second.output.splitlines()] == [
        {"finding": "an instance was deleted", "instance_id": "gone", "anchored_size": 1}
    ]
    for_people = CliRunner().invoke(main, args)  # the same finding, found again: nothing was accepted in between
    assert (for_people.exit_code, for_people.output) == (
        1,
        "an instance was deleted: instance_id gone, anchored_size 1\n",
    )
    short = CliRunner().invoke(main, [*args[:7], "--quorum", "1"])  # no witness key given
    assert short.exit_code == 2 and "quorum of 1 needs as many witness keys" in short.output
    paged = CliRunner().invoke(main, [*args, "--list-pages", "1"])
    assert paged.exit_code == 1 and "instance_id gone" in paged.output
    none = CliRunner().invoke(main, [*args, "--list-pages", "0"])
    assert none.exit_code == 2 and "'--list-pages': 0 is not in the range x>=1" in none.output


def _with_transport(transport: httpx.BaseTransport) -> type[httpx.Client]:
    class InProcess(httpx.Client):
        def __init__(self, **options: object) -> None:
            super().__init__(**{**options, "transport": transport})  # type: ignore[arg-type]

    return InProcess


def test_entries_left_unanchored_past_the_grace_are_reported(witnessed: Witnessed, monitor: Monitor) -> None:
    _append(witnessed, "anchored", 1)
    witnessed.anchorer.run_round()
    _append(witnessed, "anchored", 1)  # grown since its leaf
    _append(witnessed, "never", 2)  # no leaf at all: the operator stopped anchoring
    assert _findings(monitor) == []  # within the grace (two minutes by default)
    monitor.clock = lambda: datetime.now(UTC) + timedelta(minutes=3)
    findings = _findings(monitor)
    assert [{k: v for k, v in finding.items() if k != "since"} for finding in findings] == [
        {"finding": "an instance grows unanchored", "instance_id": "anchored", "anchored_size": 1, "size": 2},
        {"finding": "an instance grows unanchored", "instance_id": "never", "anchored_size": 0, "size": 2},
    ]
    assert all(str(finding["since"]).endswith("Z") for finding in findings)
    witnessed.anchorer.run_round()
    assert _findings(monitor) == []  # anchored at last


def test_each_check_lists_its_pages_of_instances_from_where_the_last_stopped(
    witnessed: Witnessed, backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor_module, "_PAGE", 2)
    for name in ("a", "b", "c", "d", "e"):
        _append(witnessed, name, 1)
    witnessed.anchorer.run_round()
    paged = _monitor_of(witnessed, tmp_path / "paged", list_pages=1)
    assert _findings(paged) == []  # a and b listed
    backend.raw.delete_instance("a")
    backend.raw.delete_instance("d")
    deleted = "an instance was deleted"
    # After b: c and e, the last (the next check starts again from the first); a's absence is not seen yet.
    assert _findings(paged) == [{"finding": deleted, "instance_id": "d", "anchored_size": 1}]
    assert _findings(paged) == [{"finding": deleted, "instance_id": "a", "anchored_size": 1}]  # b and c listed
    assert _findings(paged) == [{"finding": deleted, "instance_id": "d", "anchored_size": 1}]  # e, the last
