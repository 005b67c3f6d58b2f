"""API keys: the keys file, the scopes, and who a presented key belongs to.

A key is a random secret the operator hands out; the service keeps only its
SHA-256. The keys file (``PROCESS_MEMORY_API_KEYS_FILE``) has one line per key::

    name:scopes:sha256-of-key[:instance-prefix]

``scopes`` is a comma-separated subset of :data:`SCOPES`. With a prefix, the key
reaches only the instances whose id starts with it. Blank lines and lines
starting with ``#`` are ignored. Which scope each route needs is the route
table's business (``api/access.py``); this module only says who is asking.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: read: histories, memories, lineage, exports; append: new entries and clones; state: working memory;
#: admin: import, maintenance and metrics.
SCOPES = ("read", "append", "state", "admin")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_PREFIX = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class KeysFileError(ValueError):
    """The keys file cannot be used; the message names the line, never a key or a digest."""


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its name, its scopes, the SHA-256 of its secret and its instance prefix."""

    name: str
    scopes: frozenset[str]
    digest: bytes
    prefix: str | None = None

    def line(self) -> str:
        """The keys-file line for this key."""
        scopes = ",".join(scope for scope in SCOPES if scope in self.scopes)
        return ":".join([self.name, scopes, self.digest.hex()] + ([self.prefix] if self.prefix else []))


def key_digest(secret: str) -> bytes:
    """Return the SHA-256 of a presented key, as the keys file stores it."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def parse_keys(lines: Iterable[str]) -> tuple[ApiKey, ...]:
    """Return the keys of a keys file's lines; raise KeysFileError naming the first bad line."""
    keys: list[ApiKey] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keys.append(_parse_line(line, number))
    names = [key.name for key in keys]
    if len(set(names)) != len(names):
        raise KeysFileError("two keys have the same name: each key's name must be its own")
    if len({key.digest for key in keys}) != len(keys):
        raise KeysFileError("two lines hold the same key")
    return tuple(keys)


def _parse_line(line: str, number: int) -> ApiKey:
    parts = line.split(":")
    if len(parts) not in (3, 4):
        raise KeysFileError(f"line {number}: expected name:scopes:sha256[:instance-prefix]")
    name, scopes_text, digest = parts[:3]
    if not _NAME.fullmatch(name):
        raise KeysFileError(f"line {number}: a key's name is 1-64 characters of A-Z a-z 0-9 . _ -")
    scopes = frozenset(scope.strip() for scope in scopes_text.split(",") if scope.strip())
    if not scopes or not scopes <= set(SCOPES):
        raise KeysFileError(f"line {number}: scopes are a comma-separated list of {', '.join(SCOPES)}")
    if not _DIGEST.fullmatch(digest):
        raise KeysFileError(f"line {number}: the third field is the key's SHA-256 in 64 lowercase hex digits")
    prefix = parts[3] if len(parts) == 4 else None
    # ':' separates the fields, so a prefix cannot hold one (instance ids may).
    if prefix is not None and not _PREFIX.fullmatch(prefix):
        raise KeysFileError(f"line {number}: an instance prefix is 1-128 characters of A-Z a-z 0-9 . _ -")
    return ApiKey(name, scopes, bytes.fromhex(digest), prefix)


def load_keys_file(path: str) -> tuple[ApiKey, ...]:
    """Read and parse the keys file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise KeysFileError(f"cannot read the keys file ({type(error).__name__})") from None
    return parse_keys(text.splitlines())


def find_key(keys: Iterable[ApiKey], secret: str) -> ApiKey | None:
    """Return the key whose secret ``secret`` is, comparing against every key in constant time."""
    presented = key_digest(secret)
    found = None
    for key in keys:
        # No early exit: the time taken does not say which key, if any, nearly matched.
        if hmac.compare_digest(key.digest, presented):
            found = key
    return found


def new_key(name: str, scopes: Iterable[str], prefix: str | None = None) -> tuple[str, ApiKey]:
    """Make a random key; return its secret (shown once) and its configuration."""
    secret = secrets.token_urlsafe(32)
    key = _parse_line(":".join([name, ",".join(scopes), key_digest(secret).hex()] + ([prefix] if prefix else [])), 1)
    return secret, key


def access_at_start(
    requires_keys: bool, auth_off: bool, proxy_hops: int, binds: Iterable[str | tuple[str, int]]
) -> tuple[bool, str]:
    """Whether the service may start as configured, and the one line that says how it is open or closed.

    Without keys it serves only loopback TCP with no proxy in front (PROXY_HOPS=0): a unix socket or
    a proxy would carry other hosts' requests in. PROCESS_MEMORY_AUTH=off overrides, on purpose.
    """
    where = ", ".join(bind if isinstance(bind, str) else f"{bind[0]}:{bind[1]}" for bind in binds)
    if requires_keys:
        return True, f"API keys required on {where}"
    if auth_off:
        return True, f"PROCESS_MEMORY_AUTH=off: open to anyone who reaches {where}"
    if proxy_hops == 0 and all(is_loopback_bind(bind) for bind in binds):
        return True, (
            f"no API keys configured: open to every local user of {where}; requests that came through "
            "a proxy (Forwarded, X-Forwarded-*, X-Real-IP, Via) are refused (docs/security.md)"
        )
    return False, (
        f"refusing to serve {where} without API keys: set PROCESS_MEMORY_API_KEYS_FILE "
        "(docs/security.md), or PROCESS_MEMORY_AUTH=off to serve it open on purpose"
    )


def is_loopback_bind(address: str | tuple[str, int]) -> bool:
    """Whether a gunicorn bind address is TCP on a loopback interface (a unix socket is not: a proxy serves it)."""
    if not isinstance(address, tuple):
        return False
    host = address[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
