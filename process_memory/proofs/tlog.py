"""Merkle trees as the Go checksum database's ``golang.org/x/mod/sumdb/tlog`` builds them (RFC 6962 hashing).

A tree of n records is kept as its *stored hashes*: when record n is written,
its leaf hash and the hashes of the subtrees it completes are stored at
consecutive indexes from ``stored_hash_index(0, n)``, so an append writes on
average two hashes and reads at most log n. The root of any size, and the
proofs that a record is in a tree (inclusion) or that a tree extends an older
one (consistency), are then computed from at most 2 log n stored hashes.

Hashes, indexes and proofs are tlog's exactly, so its ``CheckRecord`` and
``CheckTree`` accept what this module proves (tests/test_tlog.py checks both
ways, and against RFC 6962's own definitions). The code follows tlog's
(BSD-style licence, The Go Authors), function for function.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
#: Reads the stored hashes at the given indexes, in the same order.
HashReader = Callable[[Sequence[int]], Sequence[bytes]]
#: The root of the empty tree: SHA-256 of nothing (RFC 6962, section 2.1).
EMPTY_TREE = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not prove what it was checked for."""


def record_hash(data: bytes) -> bytes:
    """The leaf hash of a record: SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _maxpow2(n: int) -> tuple[int, int]:
    """The largest power of two below ``n`` (1 for 1), and its log."""
    level = max(0, (n - 1).bit_length() - 1)
    return 1 << level, level


def stored_hash_index(level: int, n: int) -> int:
    """Where the n'th hash of ``level`` is stored: a dense order in which record n's hashes follow record n-1's."""
    n = ((n + 1) << level) - 1  # level L's n'th hash comes right after level 0's hash of its last record
    index = 0
    while n > 0:
        index += n
        n >>= 1
    return index + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The (level, n) whose hash is stored at ``index``: the inverse of stored_hash_index."""
    n = index // 2  # stored_hash_index(0, n) < 2n, so the record is at least index/2
    at = stored_hash_index(0, n)
    while (following := at + 1 + _trailing_ones(n)) <= index:
        n, at = n + 1, following
    level = index - at
    return level, n >> level


def hash_written_by(level: int, n: int) -> tuple[int, int]:
    """The record whose write stored the n'th hash of ``level``, and that hash's place among the record's hashes.

    A node is complete when its last record is written, so that record stores it, ``level`` places after
    its own leaf hash. Stores that keep each record's hashes with the record find a node with this.
    """
    return ((n + 1) << level) - 1, level


def completed_by(n: int) -> list[tuple[int, int]]:
    """The (level, n) of the stored hashes record n's write reads: the roots of the subtrees it completes."""
    return [(i, (n >> i) - 1) for i in reversed(range(_trailing_ones(n)))]


def stored_hash_count(n: int) -> int:
    """How many hashes a tree of ``n`` records stores."""
    if n == 0:
        return 0
    count = stored_hash_index(0, n - 1) + 1
    last = n - 1
    while last & 1:
        count += 1
        last >>= 1
    return count


def _trailing_ones(n: int) -> int:
    return ((n ^ (n + 1)).bit_length()) - 1


def stored_hashes(n: int, leaf: bytes, read: HashReader) -> list[bytes]:
    """The hashes to store, from ``stored_hash_index(0, n)`` on, when record n (its leaf hash ``leaf``) is written.

    Reads the roots of the subtrees that record n completes: as many as n has trailing one bits.
    """
    completed = _trailing_ones(n)
    indexes = [stored_hash_index(level, node) for level, node in completed_by(n)]
    old = _read(read, indexes)
    hashes, current = [leaf], leaf
    for i in range(completed):
        current = node_hash(old[completed - 1 - i], current)
        hashes.append(current)
    return hashes


def tree_hash(n: int, read: HashReader) -> bytes:
    """The root hash of the tree of the first ``n`` records."""
    if n == 0:
        return EMPTY_TREE
    indexes = _subtree_indexes(0, n, [])
    root, rest = _subtree_hash(0, n, _read(read, indexes))
    assert not rest, "tlog: bad index math in tree_hash"
    return root


def tree_hash_indexes(n: int) -> list[int]:
    """The stored hashes ``tree_hash(n)`` reads: the roots of the complete subtrees that make up the tree of n."""
    return _subtree_indexes(0, n, [])


def prove_record(t: int, n: int, read: HashReader) -> list[bytes]:
    """The proof that the tree of size ``t`` holds record ``n`` (RFC 6962's audit path, in its order)."""
    if not 0 <= n < t:
        raise ValueError("a record proof needs 0 <= n < t")
    indexes = _leaf_proof_indexes(0, t, n, [])
    proof, rest = _leaf_proof(0, t, n, _read(read, indexes))
    assert not rest, "tlog: bad index math in prove_record"
    return proof


def prove_tree(t: int, n: int, read: HashReader) -> list[bytes]:
    """The proof that the tree of size ``t`` extends the tree of size ``n`` (RFC 6962's consistency proof)."""
    if not 1 <= n <= t:
        raise ValueError("a tree proof needs 1 <= n <= t")
    indexes = _tree_proof_indexes(0, t, n, [])
    proof, rest = _tree_proof(0, t, n, _read(read, indexes))
    assert not rest, "tlog: bad index math in prove_tree"
    return proof


def check_record(proof: Sequence[bytes], t: int, root: bytes, n: int, leaf: bytes) -> None:
    """Raise ProofError unless ``proof`` shows that the tree of size ``t`` and root ``root`` has leaf ``leaf`` at n."""
    if not 0 <= n < t:
        raise ProofError("a record proof needs 0 <= n < t")
    if _run_record_proof(list(proof), 0, t, n, leaf) != root:
        raise ProofError("the record proof does not lead to the tree's root")


def check_tree(proof: Sequence[bytes], t: int, root: bytes, n: int, old_root: bytes) -> None:
    """Raise ProofError unless ``proof`` shows that the tree (t, root) extends the tree (n, old_root)."""
    if not 1 <= n <= t:
        raise ProofError("a tree proof needs 1 <= n <= t")
    old, new = _run_tree_proof(list(proof), 0, t, n, old_root)
    if (old, new) != (old_root, root):
        raise ProofError("the tree proof does not lead to both roots")


def _read(read: HashReader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = list(read(indexes))
    if len(hashes) != len(indexes):
        raise ValueError(f"tlog: read {len(indexes)} indexes, got {len(hashes)} hashes")
    return hashes


def _subtree_indexes(lo: int, hi: int, need: list[int]) -> list[int]:
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _subtree_hash(lo: int, hi: int, hashes: list[bytes]) -> tuple[bytes, list[bytes]]:
    """The hash of records [lo, hi) from the complete subtrees' roots that _subtree_indexes named."""
    count = 0
    while lo < hi:
        k, _ = _maxpow2(hi - lo + 1)
        count += 1
        lo += k
    current = hashes[count - 1]
    for i in range(count - 2, -1, -1):
        current = node_hash(hashes[i], current)
    return current, hashes[count:]


def _leaf_proof_indexes(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if lo + 1 == hi:
        return need
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        return _subtree_indexes(lo + k, hi, _leaf_proof_indexes(lo, lo + k, n, need))
    return _leaf_proof_indexes(lo + k, hi, n, _subtree_indexes(lo, lo + k, need))


#: A proof of the part of [lo, hi) that holds what is proven: its hashes, and the hashes left over.
_Part = Callable[[int, int, list[bytes]], tuple[list[bytes], list[bytes]]]


def _descend(lo: int, hi: int, left: bool, hashes: list[bytes], part: _Part) -> tuple[list[bytes], list[bytes]]:
    """One step down [lo, hi): the proof of the side (left or right) that holds what is proven, then the
    root of the other side, as both proofs are built."""
    k, _ = _maxpow2(hi - lo)
    if left:
        proof, hashes = part(lo, lo + k, hashes)
        sibling, hashes = _subtree_hash(lo + k, hi, hashes)
    else:
        sibling, hashes = _subtree_hash(lo, lo + k, hashes)
        proof, hashes = part(lo + k, hi, hashes)
    return [*proof, sibling], hashes


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if lo + 1 == hi:  # the leaf itself, which the checker knows
        return [], hashes
    left = n < lo + _maxpow2(hi - lo)[0]
    return _descend(lo, hi, left, hashes, lambda a, b, rest: _leaf_proof(a, b, n, rest))


def _run_record_proof(proof: list[bytes], lo: int, hi: int, n: int, leaf: bytes) -> bytes:
    if lo + 1 == hi:
        if proof:
            raise ProofError("the record proof has hashes to spare")
        return leaf
    if not proof:
        raise ProofError("the record proof is too short")
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        return node_hash(_run_record_proof(proof[:-1], lo, lo + k, n, leaf), proof[-1])
    return node_hash(proof[-1], _run_record_proof(proof[:-1], lo + k, hi, n, leaf))


def _tree_proof_indexes(lo: int, hi: int, n: int, need: list[int]) -> list[int]:
    if n == hi:
        return need if lo == 0 else _subtree_indexes(lo, hi, need)
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        return _subtree_indexes(lo + k, hi, _tree_proof_indexes(lo, lo + k, n, need))
    return _tree_proof_indexes(lo + k, hi, n, _subtree_indexes(lo, lo + k, need))


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    if n == hi:
        if lo == 0:  # exactly the old tree, whose root the checker knows
            return [], hashes
        root, hashes = _subtree_hash(lo, hi, hashes)
        return [root], hashes
    left = n <= lo + _maxpow2(hi - lo)[0]
    return _descend(lo, hi, left, hashes, lambda a, b, rest: _tree_proof(a, b, n, rest))


def _run_tree_proof(proof: list[bytes], lo: int, hi: int, n: int, old: bytes) -> tuple[bytes, bytes]:
    """The old tree's and the new tree's hashes of [lo, hi) that ``proof`` implies."""
    if n == hi:
        if lo == 0:
            if proof:
                raise ProofError("the tree proof has hashes to spare")
            return old, old
        if len(proof) != 1:
            raise ProofError("the tree proof has the wrong length")
        return proof[0], proof[0]
    if not proof:
        raise ProofError("the tree proof is too short")
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        old_hash, new_hash = _run_tree_proof(proof[:-1], lo, lo + k, n, old)
        return old_hash, node_hash(new_hash, proof[-1])
    old_hash, new_hash = _run_tree_proof(proof[:-1], lo + k, hi, n, old)
    return node_hash(proof[-1], old_hash), node_hash(proof[-1], new_hash)
