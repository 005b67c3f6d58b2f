"""Canonical JSON and SHA-256, in one place.

Everything that is hashed goes through :func:`canonical_json`, so anyone can
recompute a hash outside the service (docs/storage.md gives the recipe; which
fields an entry's hash covers is the entry record's business, entry.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CanonicalJSON:
    """A JSON value kept as its canonical text, as :func:`canonical_json` writes it, instead of parsed.

    A large request body keeps its data this way: parsed, a dataset of records
    takes about five times its text in memory (docs/architecture.md).
    """

    text: bytes

    def parsed(self) -> Any:
        """Return the value parsed (for the few rules that must look inside it)."""
        return json.loads(self.text)


def json_value(value: Any) -> Any:
    """Return ``value`` parsed when it is kept as :class:`CanonicalJSON`, else as it is."""
    return value.parsed() if isinstance(value, CanonicalJSON) else value


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 JSON of ``value`` (str.encode is always UTF-8).

    Keys sorted by code point, no insignificant white space, non-ASCII kept as
    UTF-8, integers of any size, floats in Python's shortest round-trip form.
    NaN and infinities are not JSON and raise ``ValueError``. A :class:`CanonicalJSON`
    is its own text.
    """
    if isinstance(value, CanonicalJSON):
        return value.text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(payload: bytes) -> str:
    """Return the lowercase hex SHA-256 of ``payload``."""
    return hashlib.sha256(payload).hexdigest()
