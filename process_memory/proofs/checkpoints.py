"""Checkpoints in the C2SP ``tlog-checkpoint`` form: what a signed note about an instance's tree says.

The note's text is three lines and optional extension lines::

    <origin>
    <tree size, in decimal>
    <root hash, in standard base64>
    [extension lines]

The origin names the log: ``<PROCESS_MEMORY_LOG_ORIGIN>/<instance id>``, so a
checkpoint of one instance can never pass for another's.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from process_memory.proofs.notes import NoteError, Signer, Verifier, open_note
from process_memory.proofs.tlog import HASH_SIZE

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    """One instance's tree at one size."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The note text: origin, size and root, then the extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    def signed(self, signer: Signer) -> str:
        """The checkpoint as a note signed by ``signer``."""
        return signer.sign(self.text)


def parse_checkpoint(text: str) -> Checkpoint:
    """Read a checkpoint from a note's text; raise NoteError when it is not one."""
    if not text.endswith("\n"):
        raise NoteError("a checkpoint ends in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a size and a root")
    origin, size, root, *extensions = lines
    if not origin or not _SIZE.fullmatch(size) or any(not line for line in extensions):
        raise NoteError("a checkpoint is an origin, a decimal size and a root, then non-empty extension lines")
    try:
        decoded = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("a checkpoint's root is base64") from None
    if len(decoded) != HASH_SIZE:
        raise NoteError("a checkpoint's root is a SHA-256 hash")
    return Checkpoint(origin, int(size), decoded, tuple(extensions))


def open_checkpoint(note: str, known: list[Verifier]) -> Checkpoint:
    """Return the checkpoint a note holds when a known key signed it; raise NoteError otherwise."""
    return parse_checkpoint(open_note(note, known))
