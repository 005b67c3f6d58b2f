"""Signed service checkpoints, their cosignatures, and the witnesses' sizes, as the service log keeps them.

A checkpoint row holds the note as the service signed it, followed by every cosignature gathered so far, so the
stored note is always one a client can check as it is. It is at quorum once enough configured witnesses
cosigned it (with no witness configured, at once: the service then vouches for itself alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from process_memory.anchoring.leaves import CHECKPOINTS, WITNESSED
from process_memory.formats import format_timestamp
from process_memory.history.rows import Compare, RowStore
from process_memory.proofs.checkpoints import Checkpoint, parse_checkpoint
from process_memory.proofs.cosignatures import signature_lines
from process_memory.proofs.notes import Signer


@dataclass(frozen=True)
class ServiceCheckpoint:
    """The service log at one size, signed, with the cosignatures it gathered."""

    size: int
    note: str
    cosigners: tuple[str, ...]
    quorum: bool
    signed_at: str

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint the note signs."""
        return parse_checkpoint(signature_lines(self.note)[0])

    @property
    def root(self) -> bytes:
        """The log's root hash at this size."""
        return self.checkpoint.root


def _from_row(row: dict[str, object]) -> ServiceCheckpoint:
    cosigners = tuple(name for name in str(row["cosigners"]).split(" ") if name)
    return ServiceCheckpoint(
        int(row["size"]),  # type: ignore[call-overload]
        str(row["note"]),
        cosigners,
        bool(row["quorum"]),
        str(row["signed_at"]),
    )


class CheckpointBook:
    """The service checkpoints and the witnesses' sizes in a store's rows."""

    def __init__(self, rows: RowStore) -> None:
        self.rows = rows

    def latest(self, at_quorum: bool = True) -> ServiceCheckpoint | None:
        """The largest checkpoint (at quorum, unless told otherwise)."""
        where = [Compare("quorum", "==", True)] if at_quorum else []
        rows = self.rows.find(CHECKPOINTS, where, order=[("size", True)], limit=1)
        return _from_row(rows[0]) if rows else None

    def at_size(self, size: int) -> ServiceCheckpoint | None:
        """The checkpoint of that size, if one was signed."""
        rows = self.rows.find(CHECKPOINTS, [Compare("size", "==", size)])
        return _from_row(rows[0]) if rows else None

    def sign(self, signer: Signer, origin: str, size: int, root: bytes, now: datetime, quorum: bool) -> None:
        """Sign the log at ``size`` and keep it, unless a checkpoint of that size is kept already."""
        note = Checkpoint(origin, size, root).signed(signer)
        row = {"size": size, "note": note, "cosigners": "", "quorum": quorum, "signed_at": format_timestamp(now)}
        self.rows.put(CHECKPOINTS, row, only_if=[Compare("signed_at", "<", "")])

    def add_cosignatures(self, checkpoint: ServiceCheckpoint, lines: dict[str, str], quorum: int) -> None:
        """Append the witnesses' cosignature lines (by witness name) to the stored note; mark it at quorum when
        enough have cosigned."""
        fresh = {name: line for name, line in lines.items() if name not in checkpoint.cosigners}
        if not fresh:
            return
        names = (*checkpoint.cosigners, *fresh)
        note = checkpoint.note + "".join(f"{line}\n" for line in fresh.values())
        changes = {"size": checkpoint.size, "note": note, "cosigners": " ".join(names)}
        self.rows.put(CHECKPOINTS, changes | {"quorum": checkpoint.quorum or len(names) >= quorum}, insert=False)

    def witnessed_size(self, name: str) -> int:
        """The size the witness last cosigned, as the service knows it (0 before its first)."""
        rows = self.rows.find(WITNESSED, [Compare("name", "==", name)])
        return int(rows[0]["size"]) if rows else 0

    def record_witness(self, name: str, size: int, refusal: str | None, now: datetime) -> None:
        """Keep the size the witness holds, and why it last refused (None: it cosigned)."""
        row = {"name": name, "size": size, "refusal": refusal, "updated_at": format_timestamp(now)}
        self.rows.put(WITNESSED, row)

    def witness_states(self) -> list[dict[str, object]]:
        """Every witness's kept size and last refusal."""
        return self.rows.find(WITNESSED, [], order=[("name", False)])


def anchoring_health(book: CheckpointBook, witnesses: Sequence[str], quorum: int) -> dict[str, object]:
    """What ``/readyz`` says of anchoring: the published and latest signed sizes, the witnesses whose last answer
    was a refusal, and whether enough of them still cosign to reach the quorum."""
    latest, published = book.latest(at_quorum=False), book.latest()
    refusing = sorted(
        str(state["name"]) for state in book.witness_states() if state["refusal"] and state["name"] in witnesses
    )
    lost = len(witnesses) - len(refusing) < quorum
    return {
        "status": "quorum lost" if lost else "ok",
        "published_size": published.size if published else 0,
        "signed_size": latest.size if latest else 0,
        "refusing": refusing,
    }
