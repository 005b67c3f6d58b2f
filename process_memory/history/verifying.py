"""Verifying: walk an instance's chain in bounded memory and name the first entry that does not hold."""

from __future__ import annotations

from dataclasses import dataclass

from process_memory.history.core import HistoryCore


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking an instance's chain."""

    ok: bool
    checked: int
    first_bad_seq: int | None


class Verifying(HistoryCore):
    """Check a whole chain."""

    def verify(self, instance_id: str) -> VerifyResult:
        """Recompute every entry's digest and hash and every link; report the first bad seq."""
        summary = self._summary(instance_id)
        checked = 0
        prev_hash: str | None = None
        for stored in self.store.iter_chain(instance_id):
            checked += 1
            if stored.seq != checked - 1:
                return VerifyResult(False, checked, checked - 1)  # an entry is missing
            if stored.prev_hash != prev_hash or not self._is_intact(stored):
                return VerifyResult(False, checked, stored.seq)
            prev_hash = stored.hash
        if checked <= summary.head_seq:
            # The tail was cut off: the summary remembers a head that is gone.
            return VerifyResult(False, checked, checked)
        return VerifyResult(True, checked, None)
