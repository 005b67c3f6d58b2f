"""Copying whole histories: export as entries, clone into a new instance, import an export.

A copy is appended like any other entries, so it gets a fresh chain of its
own; each copied entry keeps its id and notes where it came from in its
metadata. A copy that stopped half-way can be run again and completes it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from process_memory.entry import NewEntry, StoredEntry, copy_of, is_copy_of, shown_entry, stored_from_shown
from process_memory.exceptions import Conflict, InvalidInput, NotFound
from process_memory.formats import check_instance_id
from process_memory.history.appending import Appender
from process_memory.history.context import HistoryContext
from process_memory.history.summaries import InstanceSummary
from process_memory.proofs.redactions import RedactionLedger

#: Marks "not given" where None is a value (a clone's ``upto``).
_UNSET: Any = object()

#: Entries per batch when cloning or importing (bounds memory to this many entries' data).
COPY_CHUNK = 100


class Copier:
    """Export, clone and import histories."""

    def __init__(self, context: HistoryContext, appender: Appender) -> None:
        self.context = context
        self.store = context.store
        self.appender = appender

    def export_entries(self, instance_id: str) -> Iterator[StoredEntry]:
        """Yield every entry in order, one at a time (the store pages underneath)."""
        self.context.summary(instance_id)
        return self.store.entries.iter_chain(instance_id)

    def _shown(self, stored: StoredEntry) -> dict[str, Any]:
        return shown_entry(stored, self.context.data_of(stored))

    def clone(self, source: str, target: str, upto: int | None = None) -> InstanceSummary:
        """Copy the entries up to ``upto`` into an empty instance, in order, with a fresh chain.

        Each copy records where it came from, and the ``upto`` asked for, in ``metadata.cloned_from``.
        Sent again, the same clone (same source, same ``upto``) completes what an interrupted one began,
        as long as the target holds nothing but that clone; anything else is a 409.
        """
        check_instance_id(source)
        check_instance_id(target)
        head = self.store.entries.head(source)
        if head is None:
            raise NotFound("unknown instance", {"instance_id": source})
        last = head.seq if upto is None else upto
        if last > head.seq:
            raise NotFound("no entry at upto: it is past the head", {"upto": last, "head": head.seq})

        def copies_source(origin: dict[str, Any], copy: StoredEntry) -> bool:
            original = self.store.entries.get_by_seq(source, origin["seq"])
            return (
                origin.get("instance_id") == source
                and origin.get("upto", _UNSET) == upto
                and original is not None
                and original.hash == origin.get("hash")
                and is_copy_of(copy, original)
            )

        self._require_empty_or_completing(target, "cloned_from", copies_source)
        chain = itertools.takewhile(lambda stored: stored.seq <= last, self.store.entries.iter_chain(source))
        copies = (copy_of(self._shown(stored), "cloned_from", upto=upto) for stored in chain)
        self._append_in_chunks(target, copies)
        return self.context.summary(target)

    def import_entries(self, instance_id: str, exported: list[Any]) -> InstanceSummary:
        """Check an exported history (its entries as parsed JSON) whole, then append it to an empty instance.

        An entry that breaks the chain is refused with 422 naming its seq, and nothing is stored.
        Each entry records where it came from in ``metadata.imported_from``.
        """
        check_instance_id(instance_id)
        prev_hash: str | None = None
        source: str | None = None
        redactions = RedactionLedger()
        for seq, entry in enumerate(exported):
            stored = stored_from_shown(entry)
            if (
                stored is None
                or stored.seq != seq
                or stored.prev_hash != prev_hash
                or not self.context.is_intact(stored)
            ):
                raise InvalidInput("the imported history breaks its chain", {"seq": seq})
            source = source or stored.instance_id
            if stored.instance_id != source:
                raise InvalidInput("the imported history mixes instances", {"seq": seq})
            redactions.see(stored, self.context.data_of)
            prev_hash = stored.hash
        if (unvouched := redactions.first_unvouched()) is not None:
            raise InvalidInput("a redacted entry has no redaction entry after it", {"seq": unvouched})
        if not exported:
            raise InvalidInput("the import holds no entry", {"body": ["one exported entry per line"]})
        self._require_empty_or_completing(
            instance_id,
            "imported_from",
            lambda origin, copy: (
                origin["seq"] < len(exported)
                and exported[origin["seq"]]["hash"] == origin.get("hash")
                and is_copy_of(copy, stored_from_shown(exported[origin["seq"]]))
            ),
        )
        self._append_in_chunks(instance_id, (copy_of(entry, "imported_from") for entry in exported))
        return self.context.summary(instance_id)

    def _require_empty_or_completing(
        self, instance_id: str, provenance: str, same_request: Callable[[dict[str, Any], StoredEntry], bool]
    ) -> None:
        """Refuse a target with entries, unless they are the start of this very copy (a retry).

        They are when the target's head is a copy (``metadata[provenance]``, a key clients cannot write)
        at its own position in the source, with the id, type and data of the entry it copies, made by the
        same request: every earlier entry then is too, as each copy checked before it. The copy itself is
        compared, not only its provenance, so that an entry planted before the key was reserved (or brought
        in by an import) cannot pass for the copy's start: the copies keep their sources' ids, and an id
        taken with other content is a 409.
        """
        head = self.store.entries.head(instance_id)
        if head is None:
            return
        origin = json.loads(head.metadata_json).get(provenance)
        if isinstance(origin, dict) and origin.get("seq") == head.seq and same_request(origin, head):
            return
        raise Conflict("the target instance has entries that are not this copy's", {"instance_id": instance_id})

    def _append_in_chunks(self, instance_id: str, entries: Iterable[NewEntry]) -> None:
        remaining = iter(entries)
        while chunk := list(itertools.islice(remaining, COPY_CHUNK)):
            self.appender.append_entries(instance_id, chunk)
