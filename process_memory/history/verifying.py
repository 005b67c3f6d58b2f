"""Verifying: walk an instance's chain in bounded memory and name the first entry that does not hold."""

from __future__ import annotations

from dataclasses import dataclass

from process_memory.history.context import HistoryContext
from process_memory.proofs.redactions import RedactionLedger


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking an instance's chain."""

    ok: bool
    checked: int
    first_bad_seq: int | None


class Verifier:
    """Check a whole chain."""

    def __init__(self, context: HistoryContext) -> None:
        self.context = context

    def verify(self, instance_id: str) -> VerifyResult:
        """Recompute every entry's digest and hash and every link, and find each redacted entry's redaction entry;
        report the first bad seq."""
        summary = self.context.summary(instance_id)
        checked = 0
        prev_hash: str | None = None
        redactions = RedactionLedger()
        for stored in self.context.store.entries.iter_chain(instance_id):
            checked += 1
            if stored.seq != checked - 1:
                return VerifyResult(False, checked, checked - 1)  # an entry is missing
            if stored.prev_hash != prev_hash or not self.context.is_intact(stored):
                return VerifyResult(False, checked, stored.seq)
            redactions.see(stored, self.context.data_of)
            prev_hash = stored.hash
        if checked <= summary.head_seq:
            # The tail was cut off: the summary remembers a head that is gone.
            return VerifyResult(False, checked, checked)
        unvouched = redactions.first_unvouched()  # data erased behind the service's back
        return VerifyResult(unvouched is None, checked, unvouched)
