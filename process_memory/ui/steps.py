"""What the timeline says about each entry beyond its stored fields: how long its step took, and a one-line
preview of its data. Whether it records a failure is history/failures.py's rule, which summaries keep too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: Characters of a preview; the canonical JSON is cut there.
PREVIEW_CHARACTERS = 100


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
