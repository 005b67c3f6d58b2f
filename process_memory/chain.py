"""Canonical JSON and the per-instance hash chain, in one place.

Everything that is hashed goes through :func:`canonical_json`, so anyone can
recompute a hash outside the service (docs/storage.md gives the recipe).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: The fields of an entry that its ``hash`` covers, in the order documented.
HASHED_FIELDS: tuple[str, ...] = (
    "instance_id",
    "seq",
    "id",
    "type",
    "occurred_at",
    "recorded_at",
    "metadata",
    "size",
    "data_sha256",
    "prev_hash",
)


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 JSON of ``value`` (str.encode is always UTF-8).

    Keys sorted by code point, no insignificant white space, non-ASCII kept as
    UTF-8, integers of any size, floats in Python's shortest round-trip form.
    NaN and infinities are not JSON and raise ``ValueError``.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(payload: bytes) -> str:
    """Return the lowercase hex SHA-256 of ``payload``."""
    return hashlib.sha256(payload).hexdigest()


def entry_hash(fields: dict[str, Any]) -> str:
    """Return the chain hash of an entry from its hashed fields (``prev_hash`` included)."""
    return sha256_hex(canonical_json({name: fields[name] for name in HASHED_FIELDS}))
