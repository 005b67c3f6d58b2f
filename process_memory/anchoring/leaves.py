"""The service log's leaves, and the tables the log keeps in the history's database.

A leaf is an instance's tree at one size, written as that instance's checkpoint text without signatures or
extension lines (C2SP tlog-checkpoint)::

    <log origin>/<instance id>
    <tree size, decimal>
    <root hash, standard base64>

so a leaf names its instance's log exactly as the instance's own checkpoints do, and any checkpoint parser reads
it. Its record hash is SHA-256(0x00 ‖ those bytes), as for any RFC 6962 leaf.
"""

from __future__ import annotations

from dataclasses import dataclass

from process_memory.history.rows import RowTable
from process_memory.proofs.checkpoints import Checkpoint, parse_checkpoint
from process_memory.proofs.notes import NoteError

#: Leaf n of the service log: its text, its instance, and the tree hashes its write stored (proofs/tlog.py).
LEAVES = RowTable("anchor_leaves", ("position",))
#: Each instance's latest anchored size, and the leaf that holds it.
ANCHORED = RowTable("anchor_instances", ("instance_id",))
#: The signed service checkpoints, by size, with the cosignatures gathered for each.
CHECKPOINTS = RowTable("anchor_checkpoints", ("size",))
#: The size each witness last cosigned.
WITNESSED = RowTable("anchor_witnesses", ("name",))
#: Who anchors, until when.
LEASES = RowTable("anchor_leases", ("name",))


class LeafError(ValueError):
    """Bytes that are not a leaf of the service log."""


@dataclass(frozen=True)
class InstanceHead:
    """An instance's tree at one size: what one leaf says."""

    instance_id: str
    size: int
    root: bytes

    def leaf(self, origin: str) -> bytes:
        """The leaf's bytes in a service log of ``origin``."""
        return Checkpoint(f"{origin}/{self.instance_id}", self.size, self.root).text.encode()


def parse_leaf(data: bytes, origin: str) -> InstanceHead:
    """The instance head a leaf of the service log of ``origin`` holds; raise LeafError when it holds none."""
    try:
        checkpoint = parse_checkpoint(data.decode())
    except (NoteError, UnicodeDecodeError):
        raise LeafError("a leaf is an instance's checkpoint text") from None
    prefix = f"{origin}/"
    if checkpoint.extensions or not checkpoint.origin.startswith(prefix) or checkpoint.origin == prefix:
        raise LeafError(f"a leaf names an instance log of {origin}, without extension lines")
    if checkpoint.size < 1:
        raise LeafError("a leaf anchors a tree of one entry or more")
    return InstanceHead(checkpoint.origin[len(prefix) :], checkpoint.size, checkpoint.root)
