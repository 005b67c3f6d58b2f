"""The service log's leaves, and checking offline that an instance's tree is anchored in a cosigned service
checkpoint (docs/proofs.md, "The service log").

A leaf is an instance's tree at one size, written as that instance's checkpoint text without signatures or
extension lines (C2SP tlog-checkpoint)::

    <log origin>/<instance id>
    <tree size, decimal>
    <root hash, standard base64>

so a leaf names its instance's log exactly as the instance's own checkpoints do, and any checkpoint parser reads
it. Its record hash is SHA-256(0x00 ‖ those bytes), as for any RFC 6962 leaf. The service log's own origin is
``<log origin>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from process_memory.proofs.checkpoints import Checkpoint, open_checkpoint, parse_checkpoint
from process_memory.proofs.cosignatures import WitnessKey, cosigners
from process_memory.proofs.notes import NoteError, Verifier
from process_memory.proofs.tlog import ProofError, check_record, check_tree, record_hash


class LeafError(ValueError):
    """Bytes that are not a leaf of the service log."""


class AnchorError(ValueError):
    """An anchor that does not prove what it is checked for."""


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


@dataclass(frozen=True)
class AnchorVerdict:
    """An anchor that held: the service checkpoint it leads to, and who cosigned it (witness name → time)."""

    service: Checkpoint
    leaf_index: int
    cosigned_by: dict[str, int]


def _hashes(values: Any, what: str) -> list[bytes]:
    try:
        return [bytes.fromhex(value) for value in values]
    except (TypeError, ValueError):
        raise AnchorError(f"the anchor's {what} is a list of hex hashes") from None


def check_anchor(
    anchor: Mapping[str, Any],
    instance: Checkpoint,
    service_keys: list[Verifier],
    witnesses: list[WitnessKey],
    quorum: int,
) -> AnchorVerdict:
    """Check that ``instance`` (an instance's checkpoint, whose signature and tree were checked already) is
    anchored by ``anchor`` (the body of GET …/anchor?size=<its size>): the leaf holds its tree or a later one
    consistent with it, the leaf is in the service checkpoint, which the service signed and ``quorum`` of
    ``witnesses`` cosigned. Raise AnchorError naming the first thing that does not hold."""
    try:
        note = str(anchor["checkpoint"]["note"])
        leaf, index = str(anchor["leaf"]).encode(), int(anchor["leaf_index"])
        proofs = anchor["inclusion"], anchor["consistency"]
    except (KeyError, TypeError, ValueError):
        raise AnchorError("an anchor holds a checkpoint's note, a leaf, its index and two proofs") from None
    inclusion, consistency = _hashes(proofs[0], "inclusion"), _hashes(proofs[1], "consistency")
    try:
        service = open_checkpoint(note, service_keys)
    except NoteError as refused:
        raise AnchorError(f"the service checkpoint: {refused}") from None
    cosigned = cosigners(note, witnesses)
    if len(cosigned) < quorum:
        raise AnchorError(f"the service checkpoint is cosigned by {len(cosigned)} of the {quorum} witnesses needed")
    try:
        head = parse_leaf(leaf, service.origin)
    except LeafError as refused:
        raise AnchorError(f"the leaf: {refused}") from None
    if f"{service.origin}/{head.instance_id}" != instance.origin or head.size < instance.size:
        raise AnchorError(f"the leaf does not anchor {instance.origin} at size {instance.size} or later")
    try:
        check_record(inclusion, service.size, service.root, index, record_hash(leaf))
    except ProofError:
        raise AnchorError(f"the leaf is not leaf {index} of the service checkpoint of size {service.size}") from None
    try:
        if head.size == instance.size and (consistency or head.root != instance.root):
            raise ProofError("a leaf at the checkpoint's own size holds its root")
        if head.size > instance.size:
            check_tree(consistency, head.size, head.root, instance.size, instance.root)
    except ProofError:
        raise AnchorError(
            f"the anchored tree of size {head.size} does not extend the checkpoint's tree of size {instance.size}"
        ) from None
    return AnchorVerdict(service, index, cosigned)
