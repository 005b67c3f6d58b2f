"""The platform's current memory: what a memory document says, and the view derived from an instance's history.

A *memory document* is what the original platform's clients post (``event``,
``map``, ``dataset``, ``fork``, ``instance_filter``, ``inputs`` and header
fields). Each is stored as one immutable entry marked ``metadata.memory_document = 1``;
the *current memory* of an instance, and the lineage indexes the reprocessing
queries read, are folded from those entries in seq order and can always be
rebuilt from the chain. docs/compatibility.md describes the rules.
"""
