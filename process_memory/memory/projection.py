"""The memory projection: which posted entries are memory documents, checked before they are stored.

It is how the platform's current memory rides on the generic log (history/projections.py): the log asks it
about every batch it appends, hands each store's hook (memory/sql.py, memory/mongo.py) the documents it
checked, and asks it before erasing an entry's data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from process_memory.chain import json_value
from process_memory.entry import NewEntry, StoredEntry
from process_memory.exceptions import InvalidInput
from process_memory.history.projections import Projection
from process_memory.memory.document import MEMORY_FORMAT, MEMORY_MARKER, MemoryPost, is_memory_marked, parse_memory


def memory_of(instance_id: str, new: NewEntry) -> MemoryPost | None:
    """Return the entry's memory document, checked, when its metadata marks it as one (422 when it is not one)."""
    if not is_memory_marked(new.metadata):
        return None
    marker = new.metadata[MEMORY_MARKER]
    if marker != MEMORY_FORMAT or isinstance(marker, bool):
        raise InvalidInput("unknown memory format", {f"metadata.{MEMORY_MARKER}": [f"{MEMORY_FORMAT}"]})
    return parse_memory(json_value(new.data), instance_id)


class MemoryProjection(Projection):
    """Memory documents fold into their instance's current memory and the lineage indexes."""

    name = "memory"
    description = "the current memory"

    def __init__(self, instance_guard: Callable[[list[str]], None] = lambda instance_ids: None) -> None:
        #: Refuses (raising) instance ids a document names that the request's key may not reach (api/access.py).
        self.instance_guard = instance_guard

    def check(self, instance_id: str, news: Sequence[NewEntry]) -> list[MemoryPost | None]:
        """Parse each marked entry's document (422 when it is not one); then refuse the batch when a document names
        an instance the request may not reach."""
        posts = [memory_of(instance_id, new) for new in news]
        self.instance_guard([named for post in posts if post is not None for named in post.named_instances()])
        return posts

    def is_built_from(self, stored: StoredEntry) -> bool:
        """Whether the entry is marked as a memory document."""
        return is_memory_marked(json.loads(stored.metadata_json))
