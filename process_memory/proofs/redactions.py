"""Which redactions hold: a redacted entry verifies exactly when a later ``redaction`` entry of its chain names
it. The server, the import check and the offline verifier all walk a chain through the same ledger."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from process_memory.entry import StoredEntry

#: The type of the entry that records a redaction; clients cannot append it (api/schemas.py).
REDACTION_TYPE = "redaction"
#: Redaction entries' ids are derived from the instance and seq, so that a retried redaction appends nothing twice.
_REDACTION_IDS = uuid.UUID("8d7c1f3e-4b0a-5e9c-9a51-6f0d2c3b7e41")


def redaction_id(instance_id: str, seq: int) -> str:
    """The id of the redaction entry of the entry at ``seq``."""
    return str(uuid.uuid5(_REDACTION_IDS, f"{instance_id}/{seq}"))


def redacted_seq(data: Any) -> int | None:
    """The seq a redaction entry's data names, or None when it names none."""
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


@dataclass
class RedactionLedger:
    """The redacted entries of a chain being walked in order, until the redaction entry that vouches for each."""

    _unvouched: set[int] = field(default_factory=set)

    def see(self, stored: StoredEntry, data_of: Callable[[StoredEntry], Any]) -> None:
        """Note the next entry: redacted, it waits for its redaction entry; a redaction entry vouches for an earlier
        seq (``data_of`` reads the data of those only)."""
        if stored.redacted_json is not None:
            self._unvouched.add(stored.seq)
        elif stored.type == REDACTION_TYPE:
            named = redacted_seq(data_of(stored))
            if named is not None and named < stored.seq:
                self._unvouched.discard(named)

    def first_unvouched(self) -> int | None:
        """The lowest redacted seq no later redaction entry named, once the whole chain is seen; None when none."""
        return min(self._unvouched, default=None)
