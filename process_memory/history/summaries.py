"""The instance summary: what is known about one instance without reading its entries."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from process_memory.entry import StoredEntry


@dataclass(frozen=True)
class InstanceSummary:
    """What is known about one instance without reading its entries."""

    instance_id: str
    count: int
    first_recorded_at: str
    last_recorded_at: str
    head_seq: int
    head_hash: str

    def progress(self) -> dict[str, Any]:
        """Return every field but the instance id: what an append moves on."""
        return {name: value for name, value in dataclasses.asdict(self).items() if name != "instance_id"}


def summary_of(first: StoredEntry | None, head: StoredEntry | None) -> InstanceSummary | None:
    """The summary an instance's first and last entries make (seqs are gapless); None when it has none."""
    if head is None or first is None:
        return None
    return InstanceSummary(
        instance_id=head.instance_id,
        count=head.seq + 1,
        first_recorded_at=first.recorded_at,
        last_recorded_at=head.recorded_at,
        head_seq=head.seq,
        head_hash=head.hash,
    )
