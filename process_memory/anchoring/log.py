"""The service log's leaves and tree, kept in the history's own database through its rows (history/rows.py).

Leaf n is a row of ``anchor_leaves`` holding the leaf's text and the tree hashes its write stored, as an
instance's entry holds its own (history/trees.py): roots, proofs and tiles of any size are read from them. Only
the anchoring writer appends (anchoring/anchorer.py); ``append`` still refuses to write past a leaf another
writer stored, so two writers that each believe they hold the lease cannot interleave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from process_memory.anchoring.leaves import ANCHORED, LEAVES
from process_memory.history.rows import Compare, In, Row, RowStore
from process_memory.proofs.anchors import InstanceHead
from process_memory.proofs.tiles import ENTRIES, Tile, TileError, entry_bundle, read_hash_tile, tile_exists
from process_memory.proofs.tlog import prove_record, prove_tree, record_hash, tree_hash
from process_memory.proofs.trees import InstanceTree

#: A condition no stored leaf meets: ``put`` with it inserts a new leaf and never overwrites one.
_NEVER_STORED = Compare("size", "<", 0)


class LostRace(RuntimeError):
    """Another writer appended to the service log first; the round starts again from what it wrote."""


@dataclass(frozen=True)
class StoredLeaf:
    """Leaf ``position`` of the service log: an instance's tree at a size, as text."""

    position: int
    instance_id: str
    size: int
    text: str


_LEAF_COLUMNS = ["position", "instance_id", "size", "leaf"]


def _stored_leaf(row: dict[str, object]) -> StoredLeaf:
    return StoredLeaf(int(row["position"]), str(row["instance_id"]), int(row["size"]), str(row["leaf"]))  # type: ignore[call-overload]


@dataclass(frozen=True)
class PreparedLeaves:
    """Leaves ready to store from position ``at``: their rows, and the log's root once they are stored (None
    for none)."""

    at: int
    rows: list[Row]
    root: bytes | None


class ServiceLog:
    """The service log over a store's rows."""

    def __init__(self, rows: RowStore) -> None:
        self.rows = rows

    def size(self) -> int:
        """How many leaves the log holds."""
        last = self.rows.find(LEAVES, [], order=[("position", True)], limit=1, columns=["position"])
        return int(last[0]["position"]) + 1 if last else 0

    def root(self, size: int) -> bytes:
        """The root hash of the log's first ``size`` leaves."""
        return tree_hash(size, self._tree().read)

    def prove_inclusion(self, position: int, size: int) -> list[bytes]:
        """The proof that leaf ``position`` is in the tree of ``size`` leaves."""
        return prove_record(size, position, self._tree().read)

    def prove_consistency(self, old: int, new: int) -> list[bytes]:
        """The proof that the tree of ``new`` leaves begins with the tree of ``old``."""
        return prove_tree(new, old, self._tree().read)

    def leaves(self, first: int, count: int) -> list[StoredLeaf]:
        """Leaves ``first`` to ``first + count - 1`` that are stored, in order."""
        rows = self.rows.find(
            LEAVES,
            [Compare("position", ">=", first), Compare("position", "<", first + count)],
            order=[("position", False)],
            columns=_LEAF_COLUMNS,
        )
        return [_stored_leaf(row) for row in rows]

    def anchors_of(self, instance_id: str, at_least: int) -> StoredLeaf | None:
        """The instance's first leaf anchoring a tree of ``at_least`` entries or more; None when none does yet."""
        rows = self.rows.find(
            LEAVES,
            [Compare("instance_id", "==", instance_id), Compare("size", ">=", at_least)],
            order=[("size", False)],
            limit=1,
            columns=_LEAF_COLUMNS,
        )
        return _stored_leaf(rows[0]) if rows else None

    def anchored_sizes(self, instance_ids: Sequence[str]) -> dict[str, int]:
        """The latest anchored size of each of these instances that has one."""
        rows = self.rows.find(ANCHORED, [In("instance_id", list(instance_ids))], columns=["instance_id", "size"])
        return {row["instance_id"]: row["size"] for row in rows}

    def tile(self, tile: Tile, size: int) -> bytes:
        """A tile of the tree of ``size`` leaves; TileError when that tree has no such tile."""
        if not tile_exists(tile, size):
            raise TileError("the log has no such tile at its size")
        if tile.level == ENTRIES:
            first = tile.index * 256
            return entry_bundle([leaf.text.encode() for leaf in self.leaves(first, tile.width)])
        return read_hash_tile(tile, self._tree().read)

    def append(self, heads: Sequence[InstanceHead], origin: str, at: int) -> int:
        """Append a leaf per head, from position ``at`` (the log's size as the writer read it); return the new
        size. Raise LostRace when another writer stored leaf ``at`` first: nothing of this append is written then.
        On a transactional store every leaf is written at once. The instances' anchored sizes are the writer's
        to record (``record_anchored``), after."""
        return self.store(self.prepare(heads, origin, at))

    def prepare(self, heads: Sequence[InstanceHead], origin: str, at: int) -> PreparedLeaves:
        """The leaves of ``heads`` from position ``at``, their tree hashes and the root the log will have: all
        read and computed before a write transaction opens (on SQLite it holds the one writer's lock). The tree
        below ``at`` never changes, so what is computed here holds whoever appends first (``store`` finds out)."""
        tree = InstanceTree(self._read_hashes)
        rows: list[Row] = []
        for position, head in enumerate(heads, start=at):
            leaf = head.leaf(origin)
            hashes = tree.hashes_of_leaf(position, record_hash(leaf))
            assert hashes is not None, "the service log's tree is complete by construction"
            rows.append(
                {"position": position, "instance_id": head.instance_id, "size": head.size, "leaf": leaf.decode()}
                | {"hashes": hashes}
            )
        new = {int(row["position"]): bytes(row["hashes"]) for row in rows}

        def read(positions: Sequence[int]) -> dict[int, bytes]:
            stored = [position for position in positions if position not in new]
            return {p: new[p] for p in positions if p in new} | (self._read_hashes(stored) if stored else {})

        root = tree_hash(at + len(rows), InstanceTree(read).read) if rows else None
        return PreparedLeaves(at, rows, root)

    def store(self, prepared: PreparedLeaves) -> int:
        """Write prepared leaves (in one transaction where the store has them); return the new size. LostRace when
        another writer stored leaf ``prepared.at`` first: nothing is written then."""
        if not prepared.rows:
            return prepared.at
        with self.rows.transaction() as rows_now:
            if not rows_now.put(LEAVES, prepared.rows[0], only_if=[_NEVER_STORED]):
                raise LostRace(f"leaf {prepared.at} was stored by another writer")
            rows_now.add(LEAVES, prepared.rows[1:])
        return prepared.at + len(prepared.rows)

    def record_anchored(self, anchored: Mapping[str, tuple[int, int]]) -> None:
        """Keep these instances' latest anchored sizes and the positions of the leaves (stored already) that hold
        them. They may lag the leaves (a writer that stopped without recording them): an instance is then anchored
        again, at the same size, which costs a leaf and proves nothing wrong. They never lead them."""
        # Replaced, not raised: sizes only grow, and one writer writes them.
        rows = [{"instance_id": iid, "size": size, "position": at} for iid, (size, at) in anchored.items()]
        self.rows.add(ANCHORED, rows, replace=True)

    def _read_hashes(self, positions: Sequence[int]) -> dict[int, bytes]:
        rows = self.rows.find(LEAVES, [In("position", list(positions))], columns=["position", "hashes"])
        return {row["position"]: bytes(row["hashes"]) for row in rows}

    def _tree(self) -> InstanceTree:
        return InstanceTree(self._read_hashes)
