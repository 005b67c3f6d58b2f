"""Checking an export offline, trusting only a verifier key: what ``process-memory verify`` does.

An export (GET …/export, one entry per line) is checked against a signed
checkpoint of its instance: every entry's data against its size and digest,
its hash against the recipe (entry.py), the chain's links, each
redacted entry against the redaction entry that must follow it, and the tree of
the entries up to the checkpoint's size against the root the checkpoint signed
(so none of them was changed, removed, added or reordered since). The Go
verifier (tools/verify) does the same from docs/storage.md alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from process_memory.entry import StoredEntry, entry_problem, stored_from_shown
from process_memory.proofs.checkpoints import Checkpoint
from process_memory.proofs.redactions import RedactionLedger
from process_memory.proofs.trees import LogTree

#: The extension line a checkpoint of this service carries: the chain hash of its last entry.
HEAD_LINE = "head "


@dataclass(frozen=True)
class ExportVerdict:
    """What checking an export found: every entry holds (``bad_seq`` None), or the first that does not, and why."""

    checked: int
    bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether everything held."""
        return self.bad_seq is None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class _Walk:
    """An export being checked, entry by entry, holding only the tree's frontier."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.tree = LogTree()
        self.redactions = RedactionLedger()
        self.instance_id: str | None = None
        self.last: StoredEntry | None = None
        self.head_hash: str | None = None

    def entry(self, seq: int, line: bytes) -> str | None:
        """Check the entry on the line at ``seq``; return what is wrong, or None."""
        try:
            shown = json.loads(line, parse_constant=_reject_constant)
        except ValueError:
            return "the line is not JSON"
        stored = stored_from_shown(shown)
        if stored is None:
            return "the line is not an entry"
        if stored.seq != seq:
            return f"out of place: the line holds seq {stored.seq}"
        if seq == 0 and not self.checkpoint.origin.endswith(f"/{stored.instance_id}"):
            return f"its instance is not the checkpoint's log {self.checkpoint.origin}"
        if self.instance_id not in (None, stored.instance_id):
            return "it is of another instance"
        if stored.prev_hash != (self.last.hash if self.last else None):
            return "its prev_hash is not the hash of the entry before it"
        problem = entry_problem(stored, stored.data_json.encode() if stored.data_json is not None else None)
        if problem is not None:
            return problem
        self.redactions.see(stored, lambda entry: json.loads(entry.data_json or "null"))
        self.instance_id, self.last = stored.instance_id, stored
        if seq < self.checkpoint.size:
            self.tree.add(bytes.fromhex(stored.hash))
            self.head_hash = stored.hash
        return None

    def finish(self, count: int) -> ExportVerdict:
        """The verdict once every line is checked."""
        size = self.checkpoint.size
        if count < size:
            return ExportVerdict(count, count, f"missing: the checkpoint covers {size} entries, the export {count}")
        if self.tree.root() != self.checkpoint.root:
            return ExportVerdict(
                count,
                size - 1,
                f"the entries up to here are not the ones {self.checkpoint.origin} signed at size {size}: "
                "one was changed, removed or reordered",
            )
        heads = [line.removeprefix(HEAD_LINE) for line in self.checkpoint.extensions if line.startswith(HEAD_LINE)]
        if any(head != self.head_hash for head in heads):
            return ExportVerdict(count, size - 1, "its hash is not the head the checkpoint names")
        unvouched = self.redactions.first_unvouched()
        if unvouched is not None:
            return ExportVerdict(count, unvouched, "redacted, but no redaction entry after it records the erasure")
        return ExportVerdict(count)


def verify_export(lines: Iterable[bytes], checkpoint: Checkpoint) -> ExportVerdict:
    """Check an export's lines (blank ones skipped) against a checkpoint whose signature was checked already."""
    walk = _Walk(checkpoint)
    seq = 0
    for line in lines:
        if not line.strip():
            continue
        problem = walk.entry(seq, line)
        if problem is not None:
            return ExportVerdict(seq, seq, problem)
        seq += 1
    return walk.finish(seq)
