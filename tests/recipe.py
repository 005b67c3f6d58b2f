"""The hash recipe of docs/storage.md, written out independently of the service, for tests to check and forge with."""

from __future__ import annotations

import hashlib
import json
from typing import Any

HASHED = (
    "instance_id",
    "seq",
    "id",
    "type",
    "occurred_at",
    "recorded_at",
    "recorded_by",
    "metadata",
    "size",
    "data_sha256",
    "prev_hash",
)


def canonical(value: Any) -> bytes:
    """Canonical JSON as docs/storage.md defines it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def documented_hash(entry: dict[str, Any]) -> str:
    """Recompute an entry's hash from the recipe, checking its digest and size on the way."""
    assert entry["data_sha256"] == hashlib.sha256(canonical(entry["data"])).hexdigest()
    assert entry["size"] == len(canonical(entry["data"]))
    # recorded_by came later: an entry without one (null) hashes as it did before the field existed.
    fields = {k: entry.get(k) for k in HASHED if k != "recorded_by" or entry.get(k) is not None}
    return hashlib.sha256(canonical(fields)).hexdigest()


def rechain(entries: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    """Recompute digests, sizes, links and hashes from ``start`` on, as a forger with the recipe would."""
    for seq in range(start, len(entries)):
        entry = entries[seq]
        entry["size"] = len(canonical(entry["data"]))
        entry["data_sha256"] = hashlib.sha256(canonical(entry["data"])).hexdigest()
        entry["prev_hash"] = entries[seq - 1]["hash"] if seq else None
        entry["hash"] = documented_hash(entry)
    return entries
