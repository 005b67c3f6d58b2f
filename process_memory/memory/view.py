"""The current memory of an instance, folded from its memory entries in seq order.

The original merged the parts of successive posts: the event is upserted, the
fork's non-empty fields too; maps and entities are replaced whenever a post
carries them; ``instance_filter`` and ``inputs`` are appended. :func:`fold`
is that rule, once. It is a pure function of the previous view and the next
entries, so a store can apply it inside the append's transaction (SQL) or
replay it from the chain after a crash (MongoDB), and ``history reindex``
rebuilds every view from the chains alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from process_memory.chain import canonical_json
from process_memory.history.projections import ProjectedEntries
from process_memory.memory.document import ItemRow, MemoryPost, ReadRow, date_key, parse_date, rendered_header


@dataclass(frozen=True)
class CurrentMemory:
    """One instance's current memory, as a store keeps it: small fields, and pointers to the entries with the rest.

    The payload, maps and entities are not copied: they are read from the entry
    that brought them (``event_seq``, ``maps_seq``, ``entities_seq``), whose
    hash the chain covers.
    """

    instance_id: str
    #: The last seq folded in; entries after it are not part of this view yet.
    applied_seq: int = -1
    event_seq: int | None = None
    #: Canonical JSON of the current event, with its header and without its payload (dates rendered).
    event_json: str | None = None
    fork_json: str | None = None
    maps_seq: int | None = None
    entities_seq: int | None = None
    #: Index keys of the current event, as text, for the reprocessing queries.
    process_id: str | None = None
    scope: str | None = None
    image: str | None = None
    name: str | None = None
    reference_date: str | None = None
    original_instance_id: str | None = None
    #: The event's timestamp (else its entry's recorded_at): the newest reprocess of an original wins.
    event_time: str | None = None
    #: The highest memory seq an append announced (MongoDB marks it before inserting); above ``applied_seq``
    #: it means an append was interrupted between its entry and this view, which a read then repairs.
    pending_seq: int = -1

    @property
    def stale(self) -> bool:
        """Whether an announced memory entry may not be folded in yet."""
        return self.pending_seq > self.applied_seq

    @property
    def has_memory(self) -> bool:
        """Whether any memory entry is folded in (a MongoDB view can exist before its first entry does)."""
        return self.applied_seq >= 0

    def loads(self, name: str) -> Any:
        """Return a JSON field parsed (None when unset)."""
        text = getattr(self, f"{name}_json")
        return json.loads(text) if text is not None else None


@dataclass
class ViewWrite:
    """What a fold changed: the new view, the reads when the entities were replaced, and the items added."""

    view: CurrentMemory
    #: None: the reads are unchanged; a list: they are replaced by these (those of ``view.entities_seq``).
    reads: list[ReadRow] | None = None
    #: Items added, each with the seq of the entry that brought it.
    items: list[tuple[int, ItemRow]] = field(default_factory=list)

    @property
    def changes_reads(self) -> bool:
        """Whether the entities, and so the reads, were replaced."""
        return self.reads is not None


def read_tables(reads: list[ReadRow]) -> list[tuple[str | None, str | None, str | None]]:
    """The distinct (tag, table, scope) of some reads, in first-seen order: what ``bytags`` matches."""
    return list(dict.fromkeys((row.image, row.table, row.scope) for row in reads))


def rows_of(write: ViewWrite) -> dict[str, list[dict[str, Any]]]:
    """The index rows a write adds, by table ("items", "reads", "read_tables"), with the fields every store keeps."""
    iid, seq = write.view.instance_id, write.view.entities_seq
    reads = write.reads or []
    return {
        "items": [
            {
                "instance_id": iid,
                "seq": item_seq,
                "kind": item.kind,
                "position": item.position,
                "type": item.type,
                "item_json": item.item_json,
            }
            for item_seq, item in write.items
        ],
        "reads": [
            {
                "instance_id": iid,
                "seq": seq,
                "entity": read.entity,
                "image": read.image,
                "table_name": read.table,
                "scope": read.scope,
            }
            for read in reads
        ],
        "read_tables": [
            {"instance_id": iid, "seq": seq, "image": image, "table_name": table, "scope": scope}
            for image, table, scope in read_tables(reads)
        ],
    }


#: One memory entry to fold in: its seq, recorded_at and checked document.
Folded = tuple[int, str, MemoryPost]


@dataclass(frozen=True)
class ViewFold:
    """Memory entries of one insert, to fold into the view as it stands when they are stored."""

    instance_id: str
    entries: list[Folded]

    @classmethod
    def of(cls, projected: ProjectedEntries) -> ViewFold:
        """The fold of the memory projection's part of an insert (each entry with its checked document)."""
        return cls(
            projected.instance_id, [(stored.seq, stored.recorded_at, post) for stored, post in projected.entries]
        )

    def apply(self, view: CurrentMemory | None) -> ViewWrite:
        """Return the write that folds these entries into ``view`` (None: the instance has no view yet)."""
        return fold(view, self.instance_id, self.entries)


def _original_of(header: dict[str, Any]) -> str | None:
    reprocessing = header.get("reprocessing")
    original = reprocessing.get("originalInstanceId") if isinstance(reprocessing, dict) else None
    return original if isinstance(original, str) else None


def _with_event(view: CurrentMemory, seq: int, recorded_at: str, post: MemoryPost) -> CurrentMemory:
    header = post.header
    return dataclasses.replace(
        view,
        event_seq=seq,
        event_json=canonical_json({**(post.event or {}), "header": rendered_header(header)}).decode(),
        process_id=post.key("processId"),
        scope=post.key("scope"),
        image=post.key("image"),
        name=(post.event or {}).get("name") if isinstance((post.event or {}).get("name"), str) else None,
        reference_date=date_key(header["referenceDate"]),
        original_instance_id=_original_of(header),
        event_time=date_key(header["timestamp"] or parse_date(recorded_at, "recorded_at")),
    )


def fold(view: CurrentMemory | None, instance_id: str, entries: Iterable[Folded], upto: int | None = None) -> ViewWrite:
    """Fold memory entries, in seq order, into ``view``; ``upto`` moves ``applied_seq`` past entries that hold none."""
    current = view or CurrentMemory(instance_id)
    write = ViewWrite(current)
    for seq, recorded_at, post in entries:
        if post.event:
            current = _with_event(current, seq, recorded_at, post)
        if post.fork:
            merged = {**(current.loads("fork") or {}), **post.fork}
            current = dataclasses.replace(current, fork_json=canonical_json(merged).decode())
        if post.replaces_maps:
            current = dataclasses.replace(current, maps_seq=seq)
        if post.replaces_entities:
            current = dataclasses.replace(current, entities_seq=seq)
            write.reads = list(post.reads)
        write.items += [(seq, item) for item in post.items]
        current = dataclasses.replace(current, applied_seq=seq)
    if upto is not None and upto > current.applied_seq:
        current = dataclasses.replace(current, applied_seq=upto)
    write.view = current
    return write
