"""Reading the service log: an instance's anchor (its tree in a leaf, the leaf in a cosigned service checkpoint),
the log's own consistency proofs and tiles, all against the latest checkpoint at quorum."""

from __future__ import annotations

from dataclasses import dataclass

from process_memory.anchoring.checkpoints import CheckpointBook, ServiceCheckpoint
from process_memory.anchoring.log import ServiceLog
from process_memory.exceptions import NotFound
from process_memory.history.proving import Prover
from process_memory.proofs.tiles import TILE_WIDTH, Tile


@dataclass(frozen=True)
class InstanceAnchor:
    """That the instance's tree at ``size`` is anchored: the leaf holding it (or a later tree of the instance,
    with the instance's consistency proof from ``size`` to it), and that leaf's inclusion in a service checkpoint."""

    instance_id: str
    size: int
    anchored_size: int
    leaf_index: int
    leaf: str
    inclusion: list[str]
    consistency: list[str]
    checkpoint: ServiceCheckpoint


class AnchorReader:
    """Anchors, proofs and tiles of the service log, as published: up to the latest checkpoint at quorum."""

    def __init__(self, log: ServiceLog, book: CheckpointBook, prover: Prover) -> None:
        self.log = log
        self.book = book
        self.prover = prover

    def published(self) -> ServiceCheckpoint:
        """The latest service checkpoint at quorum; NotFound before the first."""
        checkpoint = self.book.latest()
        if checkpoint is None:
            raise NotFound("no service checkpoint has reached its quorum yet", None)
        return checkpoint

    def anchor(self, instance_id: str, size: int | None) -> InstanceAnchor:
        """The anchor of the instance's tree at ``size`` (default: every entry); NotFound for an unknown instance,
        a size past its end, or a tree not anchored in a published checkpoint yet."""
        count = self.prover.context.summary(instance_id).count
        wanted = count if size is None else size
        if not 1 <= wanted <= count:
            raise NotFound("the instance has no tree of that size", {"size": f"from 1 to {count}"})
        checkpoint = self.published()
        leaf = self.log.anchors_of(instance_id, wanted)
        if leaf is None or leaf.position >= checkpoint.size:
            raise NotFound(
                "the instance's tree at that size is not anchored in a published service checkpoint yet",
                {"size": wanted},
            )
        consistency = []
        if wanted < leaf.size:
            consistency = self.prover.consistency_proof(instance_id, wanted, leaf.size).proof
        return InstanceAnchor(
            instance_id=instance_id,
            size=wanted,
            anchored_size=leaf.size,
            leaf_index=leaf.position,
            leaf=leaf.text,
            inclusion=[h.hex() for h in self.log.prove_inclusion(leaf.position, checkpoint.size)],
            consistency=consistency,
            checkpoint=checkpoint,
        )

    def consistency(self, old: int, new: int | None) -> tuple[int, int, list[str]]:
        """The service log's proof that its tree of ``new`` leaves (default: the published size) begins with its
        tree of ``old``."""
        published = self.published().size
        new = published if new is None else new
        if not 1 <= new <= published:
            raise NotFound("the service log has published no tree of that size", {"to": f"from 1 to {published}"})
        if not 1 <= old <= new:
            raise NotFound("no tree of that earlier size in the later one", {"from": f"from 1 to {new}"})
        return old, new, [h.hex() for h in self.log.prove_consistency(old, new)]

    def tile(self, tile: Tile) -> tuple[bytes, bool]:
        """A tile of the published tree, and whether it is full (never to change)."""
        return self.log.tile(tile, self.published().size), tile.width == TILE_WIDTH
