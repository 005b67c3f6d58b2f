"""The history service: appends, reads, copies and verification over any HistoryStore.

Each part lives in its own module (appending, reading, copying, redacting, verifying, trees, proving) on
the state they share (core); this class puts them together. The API, the
commands and the tests use only this class.
"""

from __future__ import annotations

from process_memory.history.copying import Copying
from process_memory.history.proving import Proving
from process_memory.history.redacting import Redacting
from process_memory.history.trees import TreeKeeping
from process_memory.history.verifying import Verifying


class HistoryService(Copying, Redacting, Verifying, TreeKeeping, Proving):
    """Append, read, copy, redact, verify and prove per-instance histories, and rebuild their trees, over a
    HistoryStore."""
