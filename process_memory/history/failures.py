"""Whether an entry records a failure: the rule the timeline marks rows by, and an instance's summary keeps for its
last entry (so the instance list shows each run's status and filters on it without reading entries).

An entry records one when its type names an error or a failure (``error``, ``failed``, ``load.failure``…), or when
its data or its metadata, as a JSON object, holds ``error`` (any value but null or false) or a ``status`` that
names one (``error``, ``failed``, ``failure``; in any case). Data larger than FAILURE_READ_BYTES, stored out of
line or erased is not read for it: only the type and the metadata say then (README.md, "Look at it").
"""

from __future__ import annotations

import json
import re
from typing import Any

from process_memory.entry import StoredEntry

#: Words that, in a type or a status, name a failure.
_FAILURE = re.compile(r"(^|[^a-z])(error|errors|fail|failed|failure|failures)([^a-z]|$)", re.IGNORECASE)
#: Data up to this size (canonical bytes) is read for the rule; what the timeline shows inline is no larger.
FAILURE_READ_BYTES = 256 * 1024


def records_failure(entry_type: str, data: Any, metadata: Any) -> bool:
    """Whether an entry of this type, data and metadata records a failure, by the rule in this module's docstring."""
    if _FAILURE.search(entry_type):
        return True
    for part in (data, metadata):
        if not isinstance(part, dict):
            continue
        error = part.get("error")
        if error is not None and error is not False:  # not ``in (None, False)``: 0 == False, and 0 is an error
            return True
        status = part.get("status")
        if isinstance(status, str) and _FAILURE.search(status):
            return True
    return False


def entry_records_failure(stored: StoredEntry) -> bool:
    """Whether a stored entry records a failure, its data read only when it is inline, kept and small enough."""
    return records_failure(stored.type, _readable_data(stored), _named_keys(stored.metadata_json))


def _readable_data(stored: StoredEntry) -> Any:
    if stored.data_json is None or stored.redacted_json or stored.size > FAILURE_READ_BYTES:
        return None
    return _named_keys(stored.data_json)


def _named_keys(text: str) -> Any:
    """The JSON value, parsed only when it may hold either key the rule reads: canonical JSON writes a key as
    ``"error"`` or ``"status"``, so text without both spellings cannot name a failure (most entries, read for
    free)."""
    if '"error"' not in text and '"status"' not in text:
        return None
    return json.loads(text)
