"""Signed notes as the Go checksum database writes them (``golang.org/x/mod/sumdb/note``), with Ed25519 keys.

A note is UTF-8 text ending in a newline, a blank line, then one line per
signature: ``— <key name> <base64(key hash ‖ signature)>``. A key is named;
its 4-byte hash is the first four bytes of SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public
key). Keys are written as note writes them:

- verifier key (public): ``<name>+<hash hex>+<base64(0x01 ‖ public key)>``
- signer key (secret):   ``PRIVATE+KEY+<name>+<hash hex>+<base64(0x01 ‖ seed)>``

so a key made here works with Go's ``note.NewVerifier`` and ``note.NewSigner``
and the other way round (tests/test_notes.py checks it against Go's package).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_ED25519 = b"\x01"
_SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
#: More signatures than this make a note malformed, as in note.Open.
MAX_SIGNATURES = 100
_NAME = re.compile(r"[^\s+]+")


class NoteError(ValueError):
    """A key or a note that cannot be used: malformed, or not signed by a known key."""


def _key_hash(name: str, public: bytes) -> int:
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4], "big")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise NoteError("a key name is text without spaces or '+'")
    return name


def _public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures of one name."""

    name: str
    key_hash: int
    public: Ed25519PublicKey

    @classmethod
    def from_key(cls, vkey: str) -> Verifier:
        """Parse an encoded verifier key; raise NoteError when it is not one."""
        name, hash_hex, encoded = _split_key(vkey, 3)
        raw = _decoded(encoded)
        if len(raw) != 33 or raw[:1] != _ED25519:
            raise NoteError("a verifier key holds an Ed25519 public key")
        if _key_hash(_check_name(name), raw[1:]) != int(hash_hex, 16):
            raise NoteError("the verifier key's hash does not match its name and key")
        return cls(name, int(hash_hex, 16), Ed25519PublicKey.from_public_bytes(raw[1:]))

    def verifies(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``text``."""
        try:
            self.public.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A secret key that signs notes under its name."""

    name: str
    key_hash: int
    private: Ed25519PrivateKey

    @classmethod
    def from_key(cls, skey: str) -> Signer:
        """Parse an encoded signer key; raise NoteError when it is not one (the message never quotes the key)."""
        private_marker, key_marker, name, hash_hex, encoded = _split_key(skey, 5)
        if (private_marker, key_marker) != ("PRIVATE", "KEY"):
            raise NoteError("a signer key starts with PRIVATE+KEY+")
        raw = _decoded(encoded)
        if len(raw) != 33 or raw[:1] != _ED25519:
            raise NoteError("a signer key holds an Ed25519 seed")
        private = Ed25519PrivateKey.from_private_bytes(raw[1:])
        if _key_hash(_check_name(name), _public_bytes(private)) != int(hash_hex, 16):
            raise NoteError("the signer key's hash does not match its name and key")
        return cls(name, int(hash_hex, 16), private)

    @property
    def verifier_key(self) -> str:
        """The encoded verifier key that checks this signer's notes."""
        public = _ED25519 + _public_bytes(self.private)
        return f"{self.name}+{self.key_hash:08x}+{base64.b64encode(public).decode()}"

    def sign(self, text: str) -> str:
        """Return the note: ``text`` (which ends in a newline), a blank line and this key's signature."""
        if not text.endswith("\n"):
            raise NoteError("a note's text ends in a newline")
        signature = self.key_hash.to_bytes(4, "big") + self.private.sign(text.encode())
        return f"{text}\n{_SIGNATURE_PREFIX}{self.name} {base64.b64encode(signature).decode()}\n"


def generate_key(name: str) -> tuple[str, str]:
    """Return a new signer key and its verifier key, both encoded."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    key_hash = _key_hash(_check_name(name), _public_bytes(private))
    signer_key = f"PRIVATE+KEY+{name}+{key_hash:08x}+{base64.b64encode(_ED25519 + seed).decode()}"
    return signer_key, Signer.from_key(signer_key).verifier_key


def open_note(note: str, known: list[Verifier]) -> str:
    """Return a note's text when a known key signed it; raise NoteError when it is malformed, carries a bad
    signature by a known key, or carries none by a known key. As note.Open, with unknown signers skipped."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise NoteError("a note holds a control character")
    text, separator, block = note.rpartition("\n\n")
    if not separator or not block.endswith("\n"):
        raise NoteError("a note ends with a blank line and signature lines")
    text += "\n"
    verified = 0
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("a note has too many signatures")
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise NoteError("a signature line starts with an em dash")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        raw = _decoded(encoded)
        if not _NAME.fullmatch(name) or len(raw) < 5:
            raise NoteError("a signature line is malformed")
        key_hash = int.from_bytes(raw[:4], "big")
        for verifier in known:
            if (verifier.name, verifier.key_hash) == (name, key_hash):
                if not verifier.verifies(text.encode(), raw[4:]):
                    raise NoteError(f"the signature by {name} is not valid")
                verified += 1
    if not verified:
        raise NoteError("no known key signed the note")
    return text


def _split_key(key: str, parts: int) -> list[str]:
    pieces = key.strip().split("+", parts - 1)
    if len(pieces) != parts or len(pieces[-2]) != 8 or not re.fullmatch(r"[0-9a-fA-F]{8}", pieces[-2]):
        raise NoteError("a key is name+hash+key, its hash eight hex digits")
    return pieces


def _decoded(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("not base64") from None
