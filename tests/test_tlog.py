"""process_memory/proofs/tlog.py against RFC 6962's own definitions, written here from the RFC, independently.

The RFC defines the tree hash MTH, the audit path PATH and the consistency
proof PROOF recursively over the list of leaves. Every tree of 1 to 33 records
is checked pair by pair, and random pairs in a tree of 10,000: the roots and
proofs from stored hashes are exactly the RFC's, they check, and a proof with
one bit flipped, or checked against another record or size, does not.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from process_memory.proofs.tlog import (
    EMPTY_TREE,
    ProofError,
    check_record,
    check_tree,
    prove_record,
    prove_tree,
    record_hash,
    stored_hash_count,
    stored_hash_index,
    stored_hashes,
    tree_hash,
)


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """RFC 6962 2.1: the largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1: the Merkle Tree Hash of a list of entries."""
    if not leaves:
        return _sha(b"")
    if len(leaves) == 1:
        return _sha(b"\x00" + leaves[0])
    k = _split(len(leaves))
    return _sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1: the audit path of entry m."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 2.1.2: the consistency proof from the first m entries to all of them."""

    def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
        n = len(leaves)
        if m == n:
            return [] if whole else [mth(leaves)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
        return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]

    return subproof(m, leaves, True)


def _grown(size: int) -> tuple[list[bytes], list[bytes]]:
    """Records (32-byte entry hashes, as the service's leaves are) and the stored hashes of their tree."""
    records = [_sha(str(n).encode()) for n in range(size)]
    stored: list[bytes] = []

    def read(indexes: object) -> list[bytes]:
        return [stored[i] for i in indexes]  # type: ignore[attr-defined]

    for n, data in enumerate(records):
        assert len(stored) == stored_hash_index(0, n)
        stored.extend(stored_hashes(n, record_hash(data), read))
        assert len(stored) == stored_hash_count(n + 1)
    return records, stored


def _flipped(hashes: list[bytes], which: int) -> list[bytes]:
    changed = list(hashes)
    changed[which] = bytes([changed[which][0] ^ 1]) + changed[which][1:]
    return changed


SMALL_RECORDS, SMALL_STORED = _grown(33)


def _read(indexes: object) -> list[bytes]:
    return [SMALL_STORED[i] for i in indexes]  # type: ignore[attr-defined]


def test_the_empty_tree_and_the_leaf_hash_are_the_rfcs() -> None:
    assert tree_hash(0, _read) == EMPTY_TREE == mth([])
    assert record_hash(SMALL_RECORDS[0]) == mth(SMALL_RECORDS[:1])


@pytest.mark.parametrize("t", range(1, 34))
def test_every_root_and_record_proof_of_a_small_tree(t: int) -> None:
    leaves = SMALL_RECORDS[:t]
    root = tree_hash(t, _read)
    assert root == mth(leaves)
    for n in range(t):
        audit = prove_record(t, n, _read)
        assert audit == path(n, leaves)
        check_record(audit, t, root, n, record_hash(leaves[n]))
        with pytest.raises(ProofError):
            check_record(audit, t, root, n, record_hash(SMALL_RECORDS[(n + 1) % 33]))
        for which in range(len(audit)):
            with pytest.raises(ProofError):
                check_record(_flipped(audit, which), t, root, n, record_hash(leaves[n]))


@pytest.mark.parametrize("t", range(1, 34))
def test_every_consistency_proof_of_a_small_tree(t: int) -> None:
    root = tree_hash(t, _read)
    for n in range(1, t + 1):
        old_root = tree_hash(n, _read)
        consistency = prove_tree(t, n, _read)
        assert consistency == proof(n, SMALL_RECORDS[:t])
        check_tree(consistency, t, root, n, old_root)
        if n < t:  # a proof for another old size, or the old root of another size, fails
            with pytest.raises(ProofError):
                check_tree(consistency, t, root, n + 1, tree_hash(n + 1, _read))
        for which in range(len(consistency)):
            with pytest.raises(ProofError):
                check_tree(_flipped(consistency, which), t, root, n, old_root)


def test_random_pairs_in_a_tree_of_ten_thousand() -> None:
    records, stored = _grown(10_000)

    def read(indexes: object) -> list[bytes]:
        return [stored[i] for i in indexes]  # type: ignore[attr-defined]

    draw = random.Random(6962)
    for _ in range(200):
        t = draw.randint(1, 10_000)
        n = draw.randint(0, t - 1)
        root = tree_hash(t, read)
        check_record(prove_record(t, n, read), t, root, n, record_hash(records[n]))
        old = draw.randint(1, t)
        check_tree(prove_tree(t, old, read), t, root, old, tree_hash(old, read))
    assert tree_hash(10_000, read) == mth(records)


@pytest.mark.parametrize(("t", "n"), [(0, 0), (3, 3), (3, -1)])
def test_a_record_outside_the_tree_has_no_proof(t: int, n: int) -> None:
    with pytest.raises(ValueError):
        prove_record(t, n, _read)
    with pytest.raises(ProofError):
        check_record([], t, EMPTY_TREE, n, EMPTY_TREE)
