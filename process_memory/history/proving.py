"""Proving: an instance's signed checkpoints, and the proofs that an entry is in its tree or that its tree at one
size extends the tree at an earlier one. Hashes are lowercase hex; proofs are in tlog's order, so Go's
``tlog.CheckRecord`` and ``tlog.CheckTree`` take them as they are (docs/storage.md, "The Merkle tree")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from process_memory.exceptions import Conflict, NotFound
from process_memory.history.context import HistoryContext
from process_memory.proofs.checkpoints import Checkpoint
from process_memory.proofs.notes import Signer
from process_memory.proofs.tlog import prove_record, prove_tree, record_hash, tree_hash
from process_memory.proofs.trees import InstanceTree, MissingTree

_T = TypeVar("_T")


@dataclass(frozen=True)
class InclusionProof:
    """That the entry at ``seq`` is leaf ``seq`` of the instance's tree of ``size`` entries."""

    seq: int
    size: int
    leaf_hash: str
    proof: list[str]


@dataclass(frozen=True)
class ConsistencyProof:
    """That the instance's tree of ``to`` entries holds its tree of ``from_`` entries as its beginning."""

    from_: int
    to: int
    proof: list[str]


@dataclass(frozen=True)
class SignedCheckpoint:
    """The instance's tree at ``size``: its root, the chain hash of its last entry, and the signed note."""

    instance_id: str
    size: int
    root: str
    head_hash: str
    note: str


class Prover:
    """Checkpoints and proofs of instances' trees."""

    def __init__(self, context: HistoryContext) -> None:
        self.context = context
        self.store = context.store

    def checkpoint(self, instance_id: str, signer: Signer, origin: str, size: int | None = None) -> SignedCheckpoint:
        """Sign the instance's tree at ``size`` (default: every entry) as a checkpoint of the log
        ``<origin>/<instance id>``; its extension line carries the chain hash of the entry at ``size - 1``."""
        size = self._size(instance_id, size)
        root = self._proven(instance_id, lambda tree: tree_hash(size, tree.read))
        head = self.store.entries.get_by_seq(instance_id, size - 1)
        if head is None:
            raise Conflict("an entry of the instance is missing", {"seq": size - 1})
        checkpoint = Checkpoint(f"{origin}/{instance_id}", size, root, (f"head {head.hash}",))
        return SignedCheckpoint(instance_id, size, root.hex(), head.hash, checkpoint.signed(signer))

    def inclusion_proof(self, instance_id: str, seq: int, size: int | None = None) -> InclusionProof:
        """Prove that the entry at ``seq`` is in the instance's tree of ``size`` entries (default: every entry)."""
        size = self._size(instance_id, size)
        if not 0 <= seq < size:
            raise NotFound("no entry at that seq in a tree of that size", {"seq": f"from 0 to {size - 1}"})
        entry = self.store.entries.get_by_seq(instance_id, seq)
        if entry is None:
            raise Conflict("an entry of the instance is missing", {"seq": seq})
        proof = self._proven(instance_id, lambda tree: prove_record(size, seq, tree.read))
        return InclusionProof(seq, size, record_hash(bytes.fromhex(entry.hash)).hex(), [h.hex() for h in proof])

    def consistency_proof(self, instance_id: str, old: int, new: int | None = None) -> ConsistencyProof:
        """Prove that the instance's tree of ``new`` entries (default: every entry) begins with its tree of ``old``."""
        new = self._size(instance_id, new)
        if not 1 <= old <= new:
            raise NotFound("no tree of that earlier size in the later one", {"from": f"from 1 to {new}"})
        proof = self._proven(instance_id, lambda tree: prove_tree(new, old, tree.read))
        return ConsistencyProof(old, new, [h.hex() for h in proof])

    def _size(self, instance_id: str, size: int | None) -> int:
        """The tree size asked for, or the instance's entry count; 404 for an unknown instance or a size past its end
        (a tree that does not exist yet, as an entry past the head is a 404)."""
        count = self.context.summary(instance_id).count
        if size is None:
            return count
        if not 1 <= size <= count:
            raise NotFound("the instance has no tree of that size", {"size": f"from 1 to {count}"})
        return size

    def _proven(self, instance_id: str, prove: Callable[[InstanceTree], _T]) -> _T:
        """Run ``prove`` on the instance's stored tree; 409 when a hash it needs was never stored."""
        try:
            return prove(InstanceTree(lambda seqs: self.store.trees.tree_hashes(instance_id, seqs)))
        except MissingTree:
            raise Conflict(
                "the instance's tree is not complete: run `history reindex`", {"instance_id": instance_id}
            ) from None
