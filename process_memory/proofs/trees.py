"""Trees read in seq order: an instance's stored tree hashes (InstanceTree), and a log's tree grown leaf by leaf
from its frontier alone (LogTree: a chain's tree rebuilt from its entries' hashes, or the service log's as a
monitor keeps it). Both follow tlog's stored-hash layout (tlog.py): the server stores with the first, the offline
verifier, the badge and the monitor rebuild with the second."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from process_memory.proofs.tlog import (
    HASH_SIZE,
    hash_written_by,
    record_hash,
    split_stored_hash_index,
    stored_hashes,
    tree_hash,
)

#: Reads the ``tree`` of the instance's entries at these seqs; a seq with no entry or no tree is left out.
TreeReader = Callable[[Sequence[int]], dict[int, bytes]]


class MissingTree(LookupError):
    """A hash of the tree that no stored entry holds: an entry stored before trees, or none at all."""


def records_holding(indexes: Iterable[int]) -> list[int]:
    """The records (seqs) whose writes stored the hashes at these indexes, each once, in order."""
    return sorted({hash_written_by(*split_stored_hash_index(index))[0] for index in indexes})


class InstanceTree:
    """One instance's stored tree hashes: those its entries hold, and those of entries about to be stored."""

    def __init__(self, read: TreeReader, known: dict[int, bytes] | None = None) -> None:
        self._read = read
        self._known: dict[int, bytes] = dict(known or {})

    def hashes_of(self, seq: int, entry_hash: str) -> bytes | None:
        """The ``tree`` of the entry at ``seq`` whose chain hash is ``entry_hash``; None when an older entry
        it needs has none. Entries must be given in seq order; each is remembered for those after it."""
        return self.hashes_of_leaf(seq, record_hash(bytes.fromhex(entry_hash)))

    def hashes_of_leaf(self, seq: int, leaf: bytes) -> bytes | None:
        """The stored hashes of record ``seq`` whose leaf hash is ``leaf``, as ``hashes_of``."""
        try:
            tree = b"".join(stored_hashes(seq, leaf, self.read))
        except MissingTree:
            return None
        self._known[seq] = tree
        return tree

    def read(self, indexes: Sequence[int]) -> list[bytes]:
        """The stored hashes at these indexes (proofs/tlog.py's HashReader); raise MissingTree for one not kept."""
        places = [hash_written_by(*split_stored_hash_index(index)) for index in indexes]
        self._fetch(seq for seq, _ in places)
        hashes = []
        for seq, position in places:
            tree = self._known.get(seq)
            if tree is None or len(tree) < (position + 1) * HASH_SIZE:
                raise MissingTree(seq)
            hashes.append(tree[position * HASH_SIZE : (position + 1) * HASH_SIZE])
        return hashes

    def forget_but_the_frontier(self, size: int) -> None:
        """Keep only what appends after the first ``size`` entries can need: the roots of the complete
        subtrees that make up the tree of that size, one per set bit of ``size`` (rebuilding a long
        instance's tree then holds log n hashes, not n)."""
        frontier, end = set(), 0
        for bit in reversed(range(size.bit_length())):
            if size >> bit & 1:
                end += 1 << bit
                frontier.add(end - 1)
        self._known = {seq: tree for seq, tree in self._known.items() if seq in frontier}

    def kept(self) -> dict[int, bytes]:
        """The records' stored hashes held now (after ``forget_but_the_frontier``: the frontier's), by record."""
        return dict(self._known)

    def _fetch(self, seqs: Iterable[int]) -> None:
        wanted = sorted({seq for seq in seqs if seq not in self._known})
        if wanted:
            self._known.update(self._read(wanted))


#: How many leaves a LogTree adds between forgetting every hash but its frontier's.
FORGET_EVERY = 1000


class LogTree:
    """A log's tree grown leaf by leaf, holding only its frontier (log n hashes): an instance's tree rebuilt from its
    chain (each leaf's data is an entry's hash, 32 bytes), or the service log's as a monitor keeps it between runs,
    starting from its last checkpoint's frontier."""

    def __init__(self, size: int = 0, frontier: dict[int, bytes] | None = None) -> None:
        self._tree = InstanceTree(lambda seqs: {}, frontier)
        self.size = size

    def add(self, leaf: bytes) -> None:
        """Add the next leaf (at ``size``) by its data."""
        if self._tree.hashes_of_leaf(self.size, record_hash(leaf)) is None:
            raise MissingTree(self.size)
        self.size += 1
        if self.size % FORGET_EVERY == 0:
            self._tree.forget_but_the_frontier(self.size)

    def root(self) -> bytes:
        """The root of the tree of the leaves added so far."""
        self._tree.forget_but_the_frontier(self.size)
        return tree_hash(self.size, self._tree.read)

    def frontier(self) -> dict[int, bytes]:
        """What the tree needs to grow on: the frontier's stored hashes, by record."""
        self._tree.forget_but_the_frontier(self.size)
        return self._tree.kept()
