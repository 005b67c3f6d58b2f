"""The formats every layer shares: instance ids and timestamps.

Neutral ground: the history and state services and the HTTP layer all import
these rules from here, so none of them depends on another for a format.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from process_memory.exceptions import InvalidInput

INSTANCE_ID_PATTERN = r"[A-Za-z0-9._:-]{1,128}"
#: The same, written for the OpenAPI document and the schemas: not only dots (``.``, ``..`` are path steps).
INSTANCE_ID_RULE = r"^(?!\.+$)[A-Za-z0-9._:-]{1,128}$"
_INSTANCE_ID_RE = re.compile(INSTANCE_ID_PATTERN)
#: How every stored timestamp is written: RFC 3339, UTC, milliseconds (so they sort as text).
TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)
#: Seqs and other counters are stored as signed 64-bit integers.
MAX_SEQ = 2**63 - 1


def is_instance_id(text: str) -> bool:
    """Whether ``text`` is 1-128 characters of ``[A-Za-z0-9._:-]``, not all dots (``.`` and ``..`` are path steps)."""
    return bool(_INSTANCE_ID_RE.fullmatch(text)) and text.strip(".") != ""


def check_instance_id(instance_id: str) -> str:
    """Return ``instance_id`` when :func:`is_instance_id` holds; refuse it otherwise."""
    if not is_instance_id(instance_id):
        raise InvalidInput(
            "invalid instance id", {"instance_id": ["1-128 characters of A-Z a-z 0-9 . _ : -, not only dots"]}
        )
    return instance_id


def narrow_prefix(asked: str, within: str) -> str | None:
    """The prefix of the ids that start with both ``asked`` and ``within``; None when no id can.

    A listing asked for by a key limited to ``within`` answers ids under the narrower of the two, and
    nothing when they part ways: it never learns an id outside its prefix, nor that one exists.
    """
    if asked.startswith(within):
        return asked
    return within if within.startswith(asked) else None


def prefix_end(prefix: str) -> str:
    """The smallest id after every id that starts with ``prefix`` (in code-point order): the upper bound of
    a range that is exactly the ids with that prefix, where an engine compares strings by code point."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def utc_now() -> datetime:
    """Return the current time in UTC (the default clock)."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Return ``moment`` as RFC 3339 UTC with millisecond precision, e.g. ``2026-01-02T03:04:05.678Z``."""
    # isoformat, not strftime: strftime("%Y") drops the leading zeros of years before 1000.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str | None) -> datetime | None:
    """Return the moment a stored timestamp names, or None for none."""
    return datetime.fromisoformat(text) if text else None


def is_timestamp(text: str) -> bool:
    """Return whether ``text`` is a timestamp as the service writes them, naming a real moment."""
    if not _TIMESTAMP_RE.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:  # the 31st of February, say
        return False
    return True
