"""The memory service: posting memory documents, the current memory, and keeping views in step with the chains.

A post is appended through the history service like any entry (marked as a
memory document), so it is chained, idempotent and verifiable; the store folds
it into the instance's view as part of the append. Reads go through
:meth:`MemoryService.current`, which repairs a view an interrupted append left
behind (MongoDB) before answering. The reprocessing queries are in
``memory/queries.py``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from process_memory.entry import NewEntry, StoredEntry
from process_memory.exceptions import Conflict, InvalidInput, NotFound
from process_memory.formats import check_instance_id
from process_memory.history.queries import HistoryQuery, InstanceQuery
from process_memory.history.service import HistoryService
from process_memory.memory.document import HEADER_FIELDS, MEMORY_FORMAT, MEMORY_MARKER, parse_memory, unwrap
from process_memory.memory.index import MemoryIndex
from process_memory.memory.view import CurrentMemory, Folded, fold

log = logging.getLogger(__name__)

#: Entries read per round trip while replaying a chain into a view.
REPLAY_BATCH = 32
#: How often a repair retries when appends keep moving the view under it.
REPAIR_ATTEMPTS = 3
#: Names the entry a clone writes, so the same clone sent again is a safe retry.
CLONE_NAMESPACE = uuid.UUID("0b0e5f3e-6a41-4d7c-9a55-6f1f6c1f0d10")
#: The longest event name kept as an entry's type (the entry record's limit).
MAX_TYPE_LENGTH = 256


def memory_entry(document: Any, entry_id: str | None = None) -> NewEntry:
    """Return the entry a memory document is stored as: typed by its event's name, marked, header in metadata."""
    if not isinstance(document, dict):
        raise InvalidInput("a memory document is a JSON object", {"body": ["a JSON object"]})
    event = document.get("event")
    name = event.get("name") if isinstance(event, dict) else None
    header = {field: document[field] for field in ("instanceId", *HEADER_FIELDS) if field in document}
    return NewEntry(
        type=name if isinstance(name, str) and 0 < len(name) <= MAX_TYPE_LENGTH else "memory",
        data=document,
        metadata={MEMORY_MARKER: MEMORY_FORMAT, **header},
        id=entry_id,
    )


class MemoryService:
    """Post memory documents and read an instance's current memory, over the history service."""

    def __init__(self, history: HistoryService, index: MemoryIndex) -> None:
        self.history = history
        #: The log the documents are entries of.
        self.store = history.store
        #: The views and lineage indexes kept from it (the memory projection's hook in the store).
        self.index = index

    # -- writes ----------------------------------------------------------------

    def post(self, instance_id: str, body: Any) -> dict[str, Any]:
        """Append a memory document (wrapped as ``{"json": …}`` or not) as one entry; return where it went."""
        entry, _ = self.history.appender.append_entry(check_instance_id(instance_id), memory_entry(unwrap(body)))
        return {"instance_id": entry.instance_id, "seq": entry.seq, "id": entry.id}

    def clone(self, source: str, target: str) -> dict[str, Any]:
        """Make the source's current memory the target's first entry, with ``reproduction: {from, to}`` in its event.

        The same clone sent again is a safe retry; a target with other entries is a 409.
        """
        document = self.document(source)
        document["event"]["reproduction"] = {"from": source, "to": target}
        document["instanceId"] = target
        entry_id = str(uuid.uuid5(CLONE_NAMESPACE, f"{source}/{target}"))
        head = self.store.entries.head(check_instance_id(target))
        # A retry finds its own entry, alone: anything else in the target is not this clone's.
        if head is not None and (head.seq != 0 or head.id != entry_id):
            raise Conflict("the target instance already has entries", {"instance_id": target})
        entry, _ = self.history.appender.append_entry(target, memory_entry(document, entry_id), expected_head=-1)
        return {"instance_id": entry.instance_id, "seq": entry.seq, "id": entry.id}

    # -- the current memory ------------------------------------------------------

    def current(self, instance_id: str) -> CurrentMemory:
        """Return the instance's current memory, repaired first when an append was interrupted; 404 when none."""
        view = self.index.load_view(check_instance_id(instance_id))
        if view is not None and view.stale:
            view = self.repair(instance_id)
        if view is None or not view.has_memory:
            raise NotFound("the instance has no memory", {"instance_id": instance_id})
        return view

    def documents(self, instance_id: str, seqs: Iterable[int | None]) -> dict[int, dict[str, Any]]:
        """Return the memory documents of the entries at these seqs (each read once)."""
        found: dict[int, dict[str, Any]] = {}
        for seq in {seq for seq in seqs if seq is not None}:
            stored = self.store.entries.get_by_seq(instance_id, seq)
            if stored is None:
                raise NotFound("an entry of the current memory is missing", {"instance_id": instance_id, "seq": seq})
            found[seq] = unwrap(self.history.reader.data_of(stored))
        return found

    def event(self, instance_id: str) -> dict[str, Any]:
        """Return the current event with its header and payload; 404 when the memory has none."""
        view = self._with_event(instance_id)
        return self._event(view, self.documents(instance_id, [view.event_seq]))

    def _with_event(self, instance_id: str) -> CurrentMemory:
        view = self.current(instance_id)
        if view.event_seq is None:
            raise NotFound("the instance's memory has no event", {"instance_id": instance_id})
        return view

    def _event(self, view: CurrentMemory, docs: dict[int, dict[str, Any]]) -> dict[str, Any]:
        posted = docs[view.event_seq]["event"]  # type: ignore[index]  # _with_event checked it is set
        return {**view.loads("event"), "payload": posted.get("payload")}

    def parts(self, instance_id: str) -> dict[str, Any]:
        """Return the current maps (``{type: map}``) and entities (``{type: [records]}``)."""
        view = self.current(instance_id)
        return self._parts(view, self.documents(instance_id, [view.maps_seq, view.entities_seq]))

    def _parts(self, view: CurrentMemory, docs: dict[int, dict[str, Any]]) -> dict[str, Any]:
        maps = docs[view.maps_seq]["map"]["content"] if view.maps_seq is not None else {}
        entities = docs[view.entities_seq]["dataset"]["entities"] if view.entities_seq is not None else {}
        return {"maps": maps, "entities": {name: records for name, records in entities.items() if records}}

    def items(self, instance_ids: list[str], kind: str, types: list[str] | None = None) -> list[dict[str, Any]]:
        """Return these instances' ``instance_filter`` or ``inputs`` items (of these types), with their headers."""
        return [json.loads(item) for item in self.index.items(instance_ids, kind, types)]

    def head(self, instance_id: str) -> dict[str, Any]:
        """Return the current memory in the original's ``/{id}/head`` shape; 404 when it has no event."""
        view = self._with_event(instance_id)
        # The event, maps and entities often come from one entry: read each entry once.
        docs = self.documents(instance_id, [view.event_seq, view.maps_seq, view.entities_seq])
        event = self._event(view, docs)
        header, parts = event["header"], self._parts(view, docs)
        return {
            "event": event,
            "map": {"content": parts["maps"], "name": header.get("app_name")},
            "dataset": {"entities": parts["entities"]},
            "fork": view.loads("fork"),
            "processId": header.get("processId"),
            "systemId": header.get("systemId"),
            "instanceId": header.get("instanceId"),
            "eventOut": header.get("eventOut"),
            "commit": header.get("commit") or False,
            "instance_filter": self.items([instance_id], "instance_filter"),
        }

    def document(self, instance_id: str) -> dict[str, Any]:
        """Return the current memory as a memory document that, posted, rebuilds it (what a clone posts)."""
        memory = self.head(instance_id)
        header = memory["event"]["header"]
        memory.update(version=header.get("version"), image=header.get("image"))
        memory["inputs"] = self.items([instance_id], "inputs")
        return memory

    # -- keeping views in step ----------------------------------------------------

    def _memory_entries(self, instance_id: str, entries: Iterable[StoredEntry]) -> Iterator[Folded]:
        """The memory documents among stored entries, checked again (an entry that no longer parses is skipped)."""
        for stored in entries:
            if json.loads(stored.metadata_json).get(MEMORY_MARKER) != MEMORY_FORMAT:
                continue
            try:
                yield stored.seq, stored.recorded_at, parse_memory(self.history.reader.data_of(stored), instance_id)
            except InvalidInput:
                log.warning(
                    "entry %s of %s is marked as memory but is not one; left out of its view", stored.seq, instance_id
                )

    def _entries_after(self, instance_id: str, seq: int) -> Iterator[StoredEntry]:
        while batch := self.store.entries.find(instance_id, HistoryQuery(after=seq, limit=REPLAY_BATCH)):
            yield from batch
            seq = batch[-1].seq

    def repair(self, instance_id: str) -> CurrentMemory | None:
        """Fold the entries past the view's ``applied_seq`` into it (idempotent; safe beside live appends)."""
        for _ in range(REPAIR_ATTEMPTS):
            view = self.index.load_view(instance_id)
            applied = view.applied_seq if view else -1
            entries = list(self._entries_after(instance_id, applied))
            upto = entries[-1].seq if entries else applied
            write = fold(view, instance_id, self._memory_entries(instance_id, entries), upto=upto)
            if self.index.save_view(write, applied):
                return write.view
        return self.index.load_view(instance_id)

    def repair_stale(self, limit: int = 1000) -> None:
        """Repair the views interrupted appends left behind, before a query across instances reads them."""
        for instance_id in self.index.stale_views(limit):
            self.repair(instance_id)

    def reindex(self, instance_id: str) -> bool:
        """Rebuild the instance's view from its whole chain; return whether it holds any memory."""
        for _ in range(REPAIR_ATTEMPTS):
            summary = self.store.summaries.summary(instance_id)
            folded = list(self._memory_entries(instance_id, self.store.entries.iter_chain(instance_id)))
            if not folded and self.index.load_view(instance_id) is None:
                return False
            if self.index.replace_view(fold(None, instance_id, folded, upto=summary.head_seq if summary else -1)):
                return bool(folded)
        raise Conflict(
            "appends kept moving the instance while it was reindexed; run it again", {"instance_id": instance_id}
        )

    def reindex_all(self) -> int:
        """Rebuild every instance's view from its chain; return how many hold a memory."""
        count, after = 0, None
        while True:
            page = self.history.reader.list_instances(InstanceQuery(after, 1000))
            count += sum(self.reindex(summary.instance_id) for summary in page.items)
            if page.next is None:
                return count
            after = page.next
