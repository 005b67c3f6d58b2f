"""The service log on every history backend: one leaf per grown instance, its tree and proofs as RFC 6962 defines
them (computed here from the definitions, not from proofs/tlog.py), its tiles, the signed checkpoint, and the
lease that keeps one writer."""

from __future__ import annotations

import base64
import hashlib
import struct
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from process_memory.anchoring import anchorer as anchorer_module
from process_memory.anchoring.anchorer import Anchorer, AnchoringSettings
from process_memory.anchoring.log import LostRace, ServiceLog
from process_memory.anchoring.witnesses import parse_witnesses
from process_memory.entry import NewEntry
from process_memory.history.service import HistoryService
from process_memory.history.store import HistoryStore
from process_memory.proofs.anchors import InstanceHead
from process_memory.proofs.checkpoints import open_checkpoint
from process_memory.proofs.notes import Signer, Verifier, generate_key
from process_memory.proofs.tiles import Tile
from tests.backends import RawAccess
from tests.keys import witness_key

ORIGIN = "pm.test"


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962's Merkle Tree Hash of the leaves' data."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return _leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962's audit PATH(m, D[n]), leaf side first."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 6962's SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if whole else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def signer() -> Signer:
    return Signer.from_key(generate_key(ORIGIN)[0])


def _anchorer(store: HistoryStore, signer: Signer, clock: Clock, holder: str) -> Anchorer:
    return Anchorer(store, AnchoringSettings(signer, ORIGIN), clock, holder=holder)


def _entry_hashes(service: HistoryService, instance_id: str) -> list[bytes]:
    return [bytes.fromhex(entry.hash) for entry in service.store.entries.iter_chain(instance_id)]


def _expected_leaf(service: HistoryService, instance_id: str) -> bytes:
    root = _mth(_entry_hashes(service, instance_id))
    count = len(_entry_hashes(service, instance_id))
    return f"{ORIGIN}/{instance_id}\n{count}\n{base64.b64encode(root).decode()}\n".encode()


def _append(service: HistoryService, instance_id: str, count: int) -> None:
    service.appender.append_entries(instance_id, [NewEntry(type="row", data=n) for n in range(count)])


def test_each_round_appends_a_leaf_per_grown_instance_and_signs_the_rfc6962_root(
    service: HistoryService, store: HistoryStore, signer: Signer
) -> None:
    clock = Clock()
    anchorer = _anchorer(store, signer, clock, "a")
    for name, count in (("b-inst", 2), ("a-inst", 3), ("c-inst", 1)):
        _append(service, name, count)
    first = anchorer.run_round()
    assert (first.held_lease, first.appended, first.size) == (True, 3, 3)
    leaves = [_expected_leaf(service, name) for name in ("a-inst", "b-inst", "c-inst")]  # by instance id
    _append(service, "b-inst", 4)
    second = anchorer.run_round()
    leaves.append(_expected_leaf(service, "b-inst"))
    assert (second.appended, second.size) == (1, 4)
    assert anchorer.run_round().appended == 0  # nothing grew
    log = ServiceLog(store.rows)
    assert [leaf.text.encode() for leaf in log.leaves(0, 10)] == leaves
    assert [(leaf.instance_id, leaf.size) for leaf in log.leaves(0, 10)][-1] == ("b-inst", 6)
    checkpoint = open_checkpoint(anchorer.book.latest().note, [Verifier.from_key(signer.verifier_key)])
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (ORIGIN, 4, _mth(leaves))
    assert anchorer.book.at_size(3).root == _mth(leaves[:3])


def test_leaves_prepared_outside_a_transaction_carry_the_root_the_log_then_has(store: HistoryStore) -> None:
    log = ServiceLog(store.rows)
    heads = [InstanceHead(f"i{n:04d}", n + 1, hashlib.sha256(str(n).encode()).digest()) for n in range(300)]
    data = [head.leaf(ORIGIN) for head in heads]
    first = log.prepare(heads[:5], ORIGIN, 0)
    assert first.root == _mth(data[:5]) and log.size() == 0  # computed, nothing written
    assert log.store(first) == 5
    second = log.prepare(heads[5:], ORIGIN, 5)  # hashes over stored leaves and the new ones alike
    assert log.store(second) == 300
    assert second.root == _mth(data) == log.root(300)
    assert log.prepare([], ORIGIN, 300).root is None


def test_proofs_and_tiles_are_rfc6962s_and_tlog_tiles(store: HistoryStore) -> None:
    log = ServiceLog(store.rows)
    heads = [InstanceHead(f"i{n:04d}", n + 1, hashlib.sha256(str(n).encode()).digest()) for n in range(300)]
    assert log.append(heads[:100], ORIGIN, 0) == 100
    assert log.append(heads[100:], ORIGIN, 100) == 300
    data = [head.leaf(ORIGIN) for head in heads]
    assert log.root(300) == _mth(data) and log.root(257) == _mth(data[:257])
    for position in (0, 1, 255, 256, 299):
        assert log.prove_inclusion(position, 300) == _path(position, data)
        assert log.prove_inclusion(position, 257 if position < 257 else 300) == _path(
            position, data[: 257 if position < 257 else 300]
        )
    for old in (1, 2, 100, 256, 257, 299, 300):
        assert log.prove_consistency(old, 300) == _subproof(old, data, True)
    full_hashes = log.tile(Tile(0, 0, 256), 300)
    assert full_hashes == b"".join(_leaf_hash(leaf) for leaf in data[:256])
    assert log.tile(Tile(0, 1, 44), 300) == b"".join(_leaf_hash(leaf) for leaf in data[256:])
    assert log.tile(Tile(1, 0, 1), 300) == _mth(data[:256])
    bundle = log.tile(Tile(-1, 1, 44), 300)
    assert bundle == b"".join(struct.pack(">H", len(leaf)) + leaf for leaf in data[256:])
    for absent in (Tile(0, 1, 43), Tile(0, 1, 256), Tile(1, 0, 2), Tile(0, 2, 1), Tile(2, 0, 1)):
        with pytest.raises(ValueError, match="no such tile"):
            log.tile(absent, 300)


def test_a_writer_that_lost_the_race_writes_nothing(store: HistoryStore) -> None:
    log = ServiceLog(store.rows)
    first = [InstanceHead("x", 1, b"\x01" * 32), InstanceHead("y", 1, b"\x02" * 32)]
    log.append(first, ORIGIN, 0)
    with pytest.raises(LostRace):
        log.append([InstanceHead("z", 5, b"\x03" * 32), InstanceHead("w", 1, b"\x04" * 32)], ORIGIN, 1)
    assert [(leaf.instance_id, leaf.size) for leaf in log.leaves(0, 5)] == [("x", 1), ("y", 1)]
    assert log.anchored_sizes(["x", "y", "z", "w"]) == {}  # the writer records them, after


def test_anchored_sizes_are_written_out_every_30_s_and_when_the_lease_is_given_up(
    service: HistoryService, store: HistoryStore, signer: Signer
) -> None:
    clock = Clock()
    anchorer, log = _anchorer(store, signer, clock, "a"), ServiceLog(store.rows)
    _append(service, "x", 1)
    anchorer.run_round()
    assert log.anchored_sizes(["x", "y"]) == {"x": 1}  # a writer's first round writes them out
    _append(service, "x", 1)
    clock.now += timedelta(seconds=29)
    assert anchorer.run_round().appended == 1
    assert log.anchored_sizes(["x", "y"]) == {"x": 1}  # x at 2 is in a leaf; its size waits
    _append(service, "y", 1)
    clock.now += timedelta(seconds=1)
    anchorer.run_round()
    assert log.anchored_sizes(["x", "y"]) == {"x": 2, "y": 1}
    _append(service, "x", 1)
    clock.now += timedelta(seconds=1)
    anchorer.run_round()
    anchorer.release_lease()
    assert log.anchored_sizes(["x", "y"]) == {"x": 3, "y": 1}


def test_past_the_remembered_sizes_a_writer_writes_them_out_before_it_forgets_them(
    service: HistoryService, store: HistoryStore, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anchorer_module, "REMEMBERED_SIZES", 1)
    clock = Clock()
    anchorer = _anchorer(store, signer, clock, "a")
    _append(service, "x", 1)
    _append(service, "y", 1)
    assert anchorer.run_round().appended == 2  # two sizes remembered: one past the limit
    _append(service, "x", 1)
    clock.now += timedelta(seconds=1)
    assert anchorer.run_round().appended == 1  # x at 2, not written out (30 s have not passed)
    clock.now += timedelta(seconds=1)
    assert anchorer.run_round().appended == 0  # forgotten, read again: x at 2 is not anchored twice
    assert ServiceLog(store.rows).anchored_sizes(["x", "y"]) == {"x": 2, "y": 1}


def test_a_writer_that_died_leaves_sizes_behind_and_its_successor_anchors_them_again_at_the_same_size(
    service: HistoryService, store: HistoryStore, signer: Signer
) -> None:
    clock = Clock()
    _append(service, "x", 1)
    dying = _anchorer(store, signer, clock, "dying")
    dying.run_round()
    _append(service, "x", 1)
    clock.now += timedelta(seconds=1)
    dying.run_round()  # x at 2 anchored; the writer dies before writing its size out
    clock.now += timedelta(seconds=16)
    assert _anchorer(store, signer, clock, "next").run_round().appended == 1
    leaves = ServiceLog(store.rows).leaves(0, 5)
    assert [(leaf.instance_id, leaf.size) for leaf in leaves] == [("x", 1), ("x", 2), ("x", 2)]
    assert leaves[1].text == leaves[2].text  # the same tree, anchored twice


def _two_writers(store: HistoryStore, signer: Signer) -> tuple[Anchorer, Anchorer, Clock]:
    """Two anchorers of one store, each with a clock of its own: the second's is returned, to move on."""
    second_clock = Clock()
    return _anchorer(store, signer, Clock(), "first"), _anchorer(store, signer, second_clock, "second"), second_clock


def test_one_writer_holds_the_lease_until_it_stops_renewing_it(
    service: HistoryService, store: HistoryStore, signer: Signer
) -> None:
    first, second, second_clock = _two_writers(store, signer)
    _append(service, "one", 1)
    assert first.run_round().held_lease
    assert not second.run_round().held_lease
    second_clock.now += timedelta(seconds=14)
    _append(service, "two", 1)
    assert not second.run_round().held_lease  # 14 s: the first writer's lease (15 s) still holds
    second_clock.now += timedelta(seconds=2)
    taken = second.run_round()
    assert (taken.held_lease, taken.appended, taken.size) == (True, 1, 2)  # the newcomer sweeps, then appends
    assert not first.run_round().held_lease


def test_a_writer_back_after_another_anchored_reads_the_anchored_sizes_again(
    service: HistoryService, store: HistoryStore, signer: Signer
) -> None:
    first, second, second_clock = _two_writers(store, signer)
    _append(service, "x", 1)
    assert first.run_round().appended == 1  # the first writer remembers x anchored at 1
    _append(service, "x", 1)
    second_clock.now += timedelta(seconds=16)
    assert second.run_round().appended == 1  # the first writer's lease ran out: the second anchors x at 2
    second.release_lease()
    back = first.run_round()
    # What it remembered is stale: x at 2 is anchored already, and is not anchored twice.
    assert (back.held_lease, back.appended) == (True, 0)
    assert [(leaf.instance_id, leaf.size) for leaf in ServiceLog(store.rows).leaves(0, 5)] == [("x", 1), ("x", 2)]


def test_an_instance_seen_before_but_not_anchored_is_found_by_the_newcomer_s_sweep(
    service: HistoryService, store: HistoryStore, signer: Signer
) -> None:
    _append(service, "old", 2)
    clock = Clock()
    clock.now += timedelta(hours=1)  # every entry is far outside the window
    assert _anchorer(store, signer, clock, "late").run_round().appended == 1


def test_trees_of_many_instances_read_at_once_are_each_instance_s_own(
    service: HistoryService, store: HistoryStore
) -> None:
    _append(service, "p", 5)
    _append(service, "q", 3)
    wanted = {"p": [0, 3, 4], "q": [1, 2], "r": [0]}
    assert store.trees.tree_hashes_many(wanted) == {
        "p": store.trees.tree_hashes("p", [0, 3, 4]),
        "q": store.trees.tree_hashes("q", [1, 2]),
        "r": {},
    }
    assert len(store.trees.tree_hashes_many(wanted)["p"]) == 3


def test_trees_of_more_entries_than_one_query_reads_are_all_read(service: HistoryService, store: HistoryStore) -> None:
    service.appender.append_entries("long", [NewEntry(type="row", data=n) for n in range(700)])
    found = store.trees.tree_hashes_many({"long": list(range(700)), "short": [0]})
    assert sorted(found["long"]) == list(range(700)) and found["short"] == {}
    assert {seq: found["long"][seq] for seq in (0, 511, 512, 699)} == store.trees.tree_hashes(
        "long", [0, 511, 512, 699]
    )


def test_an_instance_whose_tree_is_incomplete_waits_for_its_reindex(
    service: HistoryService, store: HistoryStore, signer: Signer, raw: RawAccess
) -> None:
    _append(service, "whole", 2)
    _append(service, "broken", 4)
    raw.drop_tree("broken", 3)  # the root of a tree of 4 is the hash entry 3 stored
    report = _anchorer(store, signer, Clock(), "a").run_round()
    assert report.appended == 1 and [leaf.instance_id for leaf in ServiceLog(store.rows).leaves(0, 5)] == ["whole"]


def test_a_writer_that_stops_hands_its_lease_on_at_once(
    service: HistoryService, store: HistoryStore, signer: Signer
) -> None:
    first, second = _anchorer(store, signer, Clock(), "first"), _anchorer(store, signer, Clock(), "second")
    _append(service, "one", 1)
    assert first.run_round().held_lease and not second.run_round().held_lease
    second.release_lease()  # not the holder: changes nothing
    assert not second.run_round().held_lease
    first.release_lease()
    assert second.run_round().held_lease and not first.run_round().held_lease


def test_the_sweep_reaches_every_instance_a_page_per_round(
    service: HistoryService, store: HistoryStore, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(anchorer_module, "SWEEP_BATCH", 2)
    monkeypatch.setattr(anchorer_module, "WINDOW", timedelta(hours=-1))  # nothing counts as recent
    for name in ("s1", "s2", "s3", "s4", "s5"):
        _append(service, name, 1)
    anchorer = _anchorer(store, signer, Clock(), "a")
    appended = [anchorer.run_round().appended for _ in range(4)]
    assert appended == [2, 2, 1, 0]  # two a round, then round again from the start, where nothing grew
    anchored = [leaf.instance_id for leaf in ServiceLog(store.rows).leaves(0, 10)]
    assert anchored == ["s1", "s2", "s3", "s4", "s5"]


def test_the_witnesses_are_asked_at_once(service: HistoryService, store: HistoryStore, signer: Signer) -> None:
    both_asked = threading.Barrier(2, timeout=10)

    def witness(request: httpx.Request) -> httpx.Response:
        try:
            both_asked.wait()  # returns only once the other witness has been asked too
        except threading.BrokenBarrierError:
            return httpx.Response(500, text="asked alone")
        return httpx.Response(503, text="both asked")

    keys = [witness_key(f"w{n}.test") for n in (1, 2)]
    witnesses = parse_witnesses(";".join(f"{key} http://w{n}.test" for n, key in enumerate(keys, 1)))
    settings = AnchoringSettings(signer, ORIGIN, witnesses, 2)
    http = httpx.Client(transport=httpx.MockTransport(witness))
    _append(service, "a", 1)
    report = Anchorer(store, settings, Clock(), http=http, holder="a").run_round()
    assert {name: (refusal.status, refusal.reason) for name, refusal in report.refusals.items()} == {
        "w1.test": (503, "both asked"),
        "w2.test": (503, "both asked"),
    }
