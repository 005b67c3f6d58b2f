"""The instance summary: what is known about one instance without reading its entries."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from process_memory.entry import StoredEntry, copy_origins
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
    #: The instance its first entry says it was copied from, and how (``cloned``, ``imported``): a claim of the
    #: entry's metadata, which ``Reader.copy_relations`` checks against the entries before anything shows it.
    copied_from: str | None = None
    copy_kind: str | None = None

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
        copied_from=fields.get("copied_from"),
        copy_kind=fields.get("copy_kind"),
    )


def summary_of(first: StoredEntry | None, head: StoredEntry | None) -> InstanceSummary | None:
    """The summary an instance's first and last entries make (seqs are gapless); None when it has none."""
    if head is None or first is None:
        return None
    kind, source = copy_source(first) or (None, None)
    return InstanceSummary(
        instance_id=head.instance_id,
        count=head.seq + 1,
        first_recorded_at=first.recorded_at,
        last_recorded_at=head.recorded_at,
        head_seq=head.seq,
        head_hash=head.hash,
        head_type=head.type,
        head_failed=entry_records_failure(head),
        copied_from=source,
        copy_kind=kind,
    )


def copy_source(first: StoredEntry) -> tuple[str, str] | None:
    """(kind, source instance) an instance's first entry says it was copied from; None for an instance that is no
    copy (or for any entry but seq 0: only the first entry names the instance's origin)."""
    if first.seq != 0 or "_from" not in first.metadata_json:  # the provenance keys both end so: most read nothing
        return None
    origins = copy_origins(json.loads(first.metadata_json))
    return (origins[0][0], origins[0][1]) if origins else None
