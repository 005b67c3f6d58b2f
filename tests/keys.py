"""API keys for tests: one per scope, one with every scope, and one limited to an instance prefix."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from process_memory.auth import SCOPES, ApiKey, new_key, parse_keys

#: Instances a prefixed key reaches start with this.
PREFIX = "team-a."


@dataclass(frozen=True)
class KeySet:
    """Secrets by key name, and the keys file that configures them."""

    secrets: dict[str, str]
    path: Path

    def configured(self) -> tuple[ApiKey, ...]:
        """The keys as the service reads them."""
        return parse_keys(self.path.read_text().splitlines())

    def bearer(self, name: str) -> dict[str, str]:
        """An Authorization header with the named key."""
        return {"Authorization": f"Bearer {self.secrets[name]}"}


def write_test_keys(directory: Path) -> KeySet:
    """Write a keys file with keys named after their scopes, ``all``, and ``prefixed`` (every scope, PREFIX)."""
    secrets: dict[str, str] = {}
    lines = []
    for name, scopes, prefix in [
        *((scope, [scope], None) for scope in SCOPES),
        ("all", list(SCOPES), None),
        ("prefixed", list(SCOPES), PREFIX),
    ]:
        secret, key = new_key(name, scopes, prefix)
        secrets[name] = secret
        lines.append(key.line())
    path = directory / "api-keys"
    path.write_text("# test keys\n" + "\n".join(lines) + "\n")
    return KeySet(secrets, path)


def witness_key(name: str) -> str:
    """A new witness's verifier key (cosignature/v1), written out as C2SP tlog-cosignature says (and not with the
    code under test)."""
    public = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    key_hash = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4].hex()
    encoded = base64.b64encode(b"\x04" + public).decode()
    return f"{name}+{key_hash}+{encoded}"
