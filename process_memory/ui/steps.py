"""What the timeline says about each entry beyond its stored fields: whether it records a failure, how long its
step took, and a one-line preview of its data.

The rule for a failure lives here, once (README.md, "Look at it", states it): an entry records one when its type
names an error or a failure (``error``, ``failed``, ``load.failure``…), or when its data or its metadata, as a
JSON object, holds ``error`` (any value but null or false) or a ``status`` that names one (``error``,
``failed``, ``failure``; in any case).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

#: Words that, in a type or a status, name a failure.
_FAILURE = re.compile(r"(^|[^a-z])(error|errors|fail|failed|failure|failures)([^a-z]|$)", re.IGNORECASE)
#: Characters of a preview; the canonical JSON is cut there.
PREVIEW_CHARACTERS = 100


def records_failure(entry_type: str, data: Any, metadata: Any) -> bool:
    """Whether an entry records a failure, by the rule in this module's docstring."""
    if _FAILURE.search(entry_type):
        return True
    for part in (data, metadata):
        if not isinstance(part, dict):
            continue
        if part.get("error") not in (None, False):
            return True
        status = part.get("status")
        if isinstance(status, str) and _FAILURE.search(status):
            return True
    return False


def preview(data_json: str | None) -> str:
    """The first PREVIEW_CHARACTERS of the data's canonical JSON, with an ellipsis when there is more."""
    if data_json is None:
        return ""
    return data_json if len(data_json) <= PREVIEW_CHARACTERS else data_json[: PREVIEW_CHARACTERS - 1] + "…"


def step_time(entry: dict[str, Any]) -> datetime:
    """When an entry's step happened: its event time when the client gave one, else when it was recorded."""
    return datetime.fromisoformat(entry.get("occurred_at") or entry["recorded_at"])


def duration(seconds: float) -> str:
    """A step's length as people read one: 0 s, 350 ms, 4.2 s, 3 min 5 s, 2 h 10 min."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds > 0 else "0 s"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def parsed(data_json: str | None) -> Any:
    """The data as a value, for the failure rule; None when it is not inline."""
    return json.loads(data_json) if data_json is not None else None
