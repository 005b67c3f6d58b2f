"""An instance's verify badge: its chain checks, and its tree's root is the one the service signs.

The chain is walked as ``verify`` walks it; the tree is then rebuilt from the chain's hashes alone (holding log n
of them) and its root compared with a checkpoint signed now and opened with the service's own verifier key. A row
changed behind the service's back fails the first; a tree that no longer matches its chain fails the second.
"""

from __future__ import annotations

from dataclasses import dataclass

from process_memory.config import Settings
from process_memory.history.service import HistoryService
from process_memory.proofs.checkpoints import open_checkpoint
from process_memory.proofs.notes import Verifier


@dataclass(frozen=True)
class Badge:
    """What the badge shows: ``state`` is ``verified``, ``failed`` or ``chain-only`` (no signing key)."""

    state: str
    summary: str
    checked: int
    size: int | None = None


def verify_badge(service: HistoryService, settings: Settings, instance_id: str) -> Badge:
    """Check the instance's chain and, when checkpoints are signed, its tree against a signed checkpoint."""
    result = service.verifier.verify(instance_id)
    if not result.ok:
        return Badge("failed", f"the chain does not hold at seq {result.first_bad_seq}", result.checked)
    signer = settings.signing_key
    if signer is None:
        return Badge("chain-only", f"{result.checked} entries chained; no checkpoints are signed", result.checked)
    tree = service.trees.chain_root(instance_id)
    size = tree.size
    signed = service.prover.checkpoint(instance_id, signer, settings.log_origin, size)
    checkpoint = open_checkpoint(signed.note, [Verifier.from_key(signer.verifier_key)])
    if checkpoint.root != tree.root():
        return Badge("failed", "the stored tree is not the tree of the chain", result.checked, size)
    return Badge("verified", f"{size} entries chained; the tree matches the checkpoint signed now", size, size)
