"""Each instance's Merkle tree, kept with its entries: the rule of which hashes an entry stores.

Leaf n of an instance's tree is its entry at seq n, the leaf's data being the
entry's ``hash`` as 32 raw bytes (proofs/tlog.py has the tree itself). When
entry n is stored, the tree's new stored hashes (its leaf hash and the roots
of the subtrees it completes, one to log n of them) are stored *in the entry*,
as ``StoredEntry.tree``. So the tree is written in the same row or document as
the entry, atomically on every backend, and a hash of the tree is found by the
seq of the entry that completed its subtree.

An entry stored before trees were kept has no ``tree``; then nor do the
entries after it that would need its hashes, until ``history reindex``
rebuilds the instance's tree from its chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from process_memory.history.store import HistoryStore
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


class InstanceTree:
    """One instance's stored tree hashes: those its entries hold, and those of entries about to be stored."""

    def __init__(self, read: TreeReader) -> None:
        self._read = read
        self._known: dict[int, bytes] = {}

    def hashes_of(self, seq: int, entry_hash: str) -> bytes | None:
        """The ``tree`` of the entry at ``seq`` whose chain hash is ``entry_hash``; None when an older entry
        it needs has none. Entries must be given in seq order; each is remembered for those after it."""
        try:
            tree = b"".join(stored_hashes(seq, record_hash(bytes.fromhex(entry_hash)), self.read))
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

    def _fetch(self, seqs: Iterable[int]) -> None:
        wanted = sorted({seq for seq in seqs if seq not in self._known})
        if wanted:
            self._known.update(self._read(wanted))


#: Tree hashes saved per store call while a tree is rebuilt.
REBUILD_BATCH = 1000


class ChainTree:
    """The tree of a chain's entries given in seq order, holding only log n hashes: its root at any point."""

    def __init__(self) -> None:
        self._tree = InstanceTree(lambda seqs: {})  # every hash it needs was computed here, from earlier entries
        self.size = 0

    def add(self, entry_hash: str) -> None:
        """Add the next entry (at seq ``size``) by its chain hash."""
        self._tree.hashes_of(self.size, entry_hash)
        self.size += 1
        if self.size % REBUILD_BATCH == 0:
            self._tree.forget_but_the_frontier(self.size)

    def root(self) -> bytes:
        """The root of the tree of the entries added so far."""
        self._tree.forget_but_the_frontier(self.size)
        return tree_hash(self.size, self._tree.read)


class TreeKeeper:
    """Rebuild instances' trees from their chains (``history reindex``)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    def rebuild_tree(self, instance_id: str) -> int:
        """Store the tree hashes of each of the instance's entries, computed from its chain alone (an entry
        stored before trees, or one whose tree was lost, gets its own); return how many entries have one."""
        tree = InstanceTree(lambda seqs: {})  # every hash it needs was computed here, from earlier entries
        pending: dict[int, bytes] = {}
        rebuilt = 0
        for stored in self.store.entries.iter_chain(instance_id):
            hashes = tree.hashes_of(stored.seq, stored.hash)
            if hashes is None:  # a seq missing from the chain: the rest of the tree cannot be built
                break
            pending[stored.seq] = hashes
            rebuilt += 1
            if len(pending) >= REBUILD_BATCH:
                self.store.trees.save_trees(instance_id, pending)
                pending = {}
                tree.forget_but_the_frontier(stored.seq + 1)
        if pending:
            self.store.trees.save_trees(instance_id, pending)
        return rebuilt

    def chain_root(self, instance_id: str) -> ChainTree:
        """The tree of the instance's chain as stored, rebuilt from its entries' hashes alone (not from the stored
        tree): what a checkpoint of it must sign."""
        tree = ChainTree()
        for stored in self.store.entries.iter_chain(instance_id):
            tree.add(stored.hash)
        return tree

    def rebuild_trees(self) -> int:
        """Rebuild every instance's tree; return how many instances."""
        count, after = 0, None
        while summaries := self.store.summaries.list_summaries(after, REBUILD_BATCH):
            for summary in summaries:
                self.rebuild_tree(summary.instance_id)
            count += len(summaries)
            after = summaries[-1].instance_id
        return count
