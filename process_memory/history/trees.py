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

from process_memory.history.store import HistoryStore
from process_memory.proofs.trees import InstanceTree, LogTree

#: Entries whose tree hashes are saved in one write, and instances listed per read, while rebuilding.
REBUILD_BATCH = 1000


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

    def chain_root(self, instance_id: str) -> LogTree:
        """The tree of the instance's chain as stored, rebuilt from its entries' hashes alone (not from the stored
        tree): what a checkpoint of it must sign."""
        tree = LogTree()
        for stored in self.store.entries.iter_chain(instance_id):
            tree.add(bytes.fromhex(stored.hash))
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
