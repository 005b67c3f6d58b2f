"""The platform's current memory: what a memory document says, and the view derived from an instance's history.

A *memory document* is what the original platform's clients post (``event``,
``map``, ``dataset``, ``fork``, ``instance_filter``, ``inputs`` and header
fields). Each is stored as one immutable entry marked ``metadata.memory_document = 1``;
the *current memory* of an instance, and the lineage indexes the reprocessing
queries read, are folded from those entries in seq order and can always be
rebuilt from the chain. docs/compatibility.md describes the rules.
"""

from __future__ import annotations

import weakref

from process_memory.history.store import HistoryStore
from process_memory.memory.index import MemoryIndex
from process_memory.memory.projection import MemoryProjection
from process_memory.registry import MEMORY_HOOKS

_INDEXES: weakref.WeakKeyDictionary[HistoryStore, MemoryIndex] = weakref.WeakKeyDictionary()


def memory_index_of(history: HistoryStore) -> MemoryIndex:
    """Return the memory index beside a history store, attached to the store as the memory projection's hook
    (one per store, however many apps are made over it)."""
    index = _INDEXES.get(history)
    if index is None:
        index = MemoryIndex(history.rows)
        history.attach_projection(MemoryProjection.name, MEMORY_HOOKS.create(history.backend, history, index))
        _INDEXES[history] = index
    return index
