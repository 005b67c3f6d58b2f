"""The instance summary: what is known about one instance without reading its entries."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from process_memory.entry import StoredEntry
from process_memory.history.failures import entry_records_failure


@dataclass(frozen=True)
class InstanceSummary:
    """What is known about one instance without reading its entries."""

    instance_id: str
    count: int
    first_recorded_at: str
    last_recorded_at: str
    head_seq: int
    head_hash: str
    #: The last entry's type, and whether it records a failure (failures.py): None in a summary written before
    #: summaries kept them, until its instance's next append.
    head_type: str | None = None
    head_failed: bool | None = None

    def progress(self) -> dict[str, Any]:
        """Return every field but the instance id: what an append moves on."""
        return {name: value for name, value in dataclasses.asdict(self).items() if name != "instance_id"}


def summary_from_fields(fields: Mapping[str, Any], instance_id: str) -> InstanceSummary | None:
    """The summary a stored row or document holds (its fields by name; the instance id as each store keys it);
    None for a first append that never completed (its placeholder's head seq is -1)."""
    if fields["head_seq"] < 0:
        return None
    return InstanceSummary(
        instance_id=instance_id,
        count=fields["count"],
        first_recorded_at=fields["first_recorded_at"],
        last_recorded_at=fields["last_recorded_at"],
        head_seq=fields["head_seq"],
        head_hash=fields["head_hash"],
        head_type=fields.get("head_type"),
        head_failed=fields.get("head_failed"),
    )


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
        head_type=head.type,
        head_failed=entry_records_failure(head),
    )
