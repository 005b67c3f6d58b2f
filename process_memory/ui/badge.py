"""An instance's verify badge: its chain checks, its tree's root is the one the service signs, and that tree is
anchored in the published service checkpoint, cosigned by the witnesses.

The chain is walked as ``verify`` walks it; the tree is then rebuilt from the chain's hashes alone (holding log n
of them) and its root compared with a checkpoint signed now, then with the leaf that anchors it, checked as
``process-memory verify --anchor`` checks it. A row changed behind the service's back fails the first; a tree that
no longer matches its chain the second; a chain rewritten and re-signed consistently the third. Only the third
rests on anyone but the server: without witnesses the badge says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from process_memory.anchoring.anchors import AnchorReader
from process_memory.anchoring.checkpoints import CheckpointBook
from process_memory.anchoring.log import ServiceLog
from process_memory.config import Settings
from process_memory.exceptions import NotFound
from process_memory.formats import format_timestamp
from process_memory.history.service import HistoryService
from process_memory.proofs.anchors import AnchorError, check_anchor
from process_memory.proofs.checkpoints import Checkpoint, open_checkpoint
from process_memory.proofs.notes import NoteError, Verifier
from process_memory.proofs.trees import LogTree


@dataclass(frozen=True)
class Badge:
    """What the badge shows: ``state`` is ``verified``, ``failed``, ``unanchored`` (signed, not anchored yet) or
    ``chain-only`` (no signing key)."""

    state: str
    summary: str
    checked: int
    size: int | None = None
    #: The first entry that does not hold, when the chain does not: the badge links to its page.
    bad_seq: int | None = None


def verify_badge(service: HistoryService, settings: Settings, instance_id: str) -> Badge:
    """Check the instance's chain, its tree against a checkpoint signed now, and that tree's anchor in the
    published service checkpoint with its cosignatures; say exactly what was checked, or what failed."""
    result = service.verifier.verify(instance_id)
    if not result.ok:
        bad = result.first_bad_seq
        return Badge("failed", f"the chain does not hold at seq {bad}", result.checked, bad_seq=bad)
    signer = settings.signing_key
    if signer is None:
        return Badge("chain-only", f"{result.checked} entries chained; no checkpoints are signed", result.checked)
    tree = service.trees.chain_root(instance_id)
    size = tree.size
    signed = service.prover.checkpoint(instance_id, signer, settings.log_origin, size)
    verifier = Verifier.from_key(signer.verifier_key)
    checkpoint = open_checkpoint(signed.note, [verifier])
    if checkpoint.root != tree.root():
        return Badge("failed", "the stored tree is not the tree of the chain", result.checked, size)
    return _anchored(service, settings, Checkpoint(checkpoint.origin, size, checkpoint.root), verifier)


def _anchored(service: HistoryService, settings: Settings, tree: Checkpoint, verifier: Verifier) -> Badge:
    """The tree's anchor, checked as ``process-memory verify --anchor`` checks it."""
    size = tree.size
    reader = AnchorReader(ServiceLog(service.store.rows), CheckpointBook(service.store.rows), service.prover)
    try:
        anchor = reader.anchor(tree.origin.rsplit("/", 1)[1], size)
    except NotFound:
        why = f"the chain holds ({size} entries) and its tree is signed; it is not anchored in a published service "
        return Badge("unanchored", why + "checkpoint yet", size, size)
    shown = {**vars(anchor), "checkpoint": {"note": anchor.checkpoint.note}}
    witnesses = [witness.key for witness in settings.witnesses]
    try:
        found = check_anchor(shown, tree, [verifier], witnesses, settings.witness_quorum)
    except AnchorError as refused:
        return Badge("failed", f"the tree at size {size} is not the one anchored: {refused}", size, size)
    where = f"the chain holds; the tree at size {size} is anchored in service checkpoint {found.service.size}"
    if not witnesses:
        return Badge(
            "verified", f"{where}; no witness is configured: the server is checked only against itself", size, size
        )
    by = " and ".join(f"{name} at {_moment(at)}" for name, at in sorted(found.cosigned_by.items()))
    return Badge("verified", f"{where}, cosigned by {by}", size, size)


def _moment(seconds: int) -> str:
    return format_timestamp(datetime.fromtimestamp(seconds, UTC))


def check_held(service: HistoryService, settings: Settings, instance_id: str, note: str) -> Badge:
    """Check a checkpoint a viewer holds against the instance's chain now: signed by one of this service's keys,
    of this instance's log, the chain holding, and the checkpoint's tree the tree of the chain's first entries,
    rebuilt from their hashes."""
    keys = [Verifier.from_key(key) for key in (*_current_key(settings), *settings.verifier_keys)]
    try:
        held = open_checkpoint(note.replace("\r\n", "\n"), keys)
    except NoteError as refused:
        return Badge("failed", f"the checkpoint you hold does not open with this service's keys: {refused}", 0)
    expected = f"{settings.log_origin}/{instance_id}"
    if held.origin != expected:
        return Badge("failed", f"the checkpoint you hold is of {held.origin}, not of {expected}", 0)
    result = service.verifier.verify(instance_id)
    if not result.ok:
        bad = result.first_bad_seq
        return Badge("failed", f"the chain does not hold at seq {bad}", result.checked, bad_seq=bad)
    tree = LogTree()
    for stored in service.store.entries.iter_chain(instance_id):
        if tree.size == held.size:
            break
        tree.add(bytes.fromhex(stored.hash))
    if tree.size < held.size:
        return Badge("failed", f"the checkpoint you hold covers {held.size} entries; the chain has {tree.size}", 0)
    if tree.root() != held.root:
        why = f"NOT consistent: the first {held.size} entries are not the ones the checkpoint you hold signed"
        return Badge("failed", why, held.size, held.size)
    why = f"consistent: the first {held.size} entries are the ones the checkpoint you hold signed"
    return Badge("verified", why, held.size)


def _current_key(settings: Settings) -> list[str]:
    return [settings.signing_key.verifier_key] if settings.signing_key is not None else []
