"""Witness cosignatures as C2SP tlog-cosignature defines them (``cosignature/v1``, Ed25519), as litewitness and
torchwood's ``CosignatureSigner`` write them.

A witness's verifier key is ``<name>+<hash hex>+<base64(0x04 ‖ public key)>``, its hash the first four bytes of
SHA-256(name ‖ "\\n" ‖ 0x04 ‖ public key). A cosignature is a note signature line whose bytes are the key hash,
the time (seconds since the epoch, 8 bytes big-endian) and the Ed25519 signature of::

    cosignature/v1
    time <seconds>
    <the checkpoint's text>

A cosignature says the witness saw this checkpoint, and that it was consistent with every earlier one it
cosigned for the log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from process_memory.proofs.notes import NoteError

_COSIGNATURE_V1 = b"\x04"
_SIGNATURE_PREFIX = "\u2014 "
_SIGNATURE_SIZE = 4 + 8 + 64


def _key_hash(name: str, public: bytes) -> int:
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + _COSIGNATURE_V1 + public).digest()[:4], "big")


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosignature at ``timestamp`` signs for the checkpoint ``text``."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class WitnessKey:
    """A witness's public key: checks its cosignatures."""

    name: str
    key_hash: int
    public: Ed25519PublicKey

    @classmethod
    def from_key(cls, vkey: str) -> WitnessKey:
        """Parse a ``cosignature/v1`` verifier key; raise NoteError when it is not one."""
        pieces = vkey.strip().split("+", 2)
        if len(pieces) != 3 or len(pieces[1]) != 8:
            raise NoteError("a witness key is name+hash+key, its hash eight hex digits")
        name, hash_hex, encoded = pieces
        try:
            raw = base64.b64decode(encoded, validate=True)
            key_hash = int(hash_hex, 16)
        except (binascii.Error, ValueError):
            raise NoteError("a witness key's hash is hex and its key base64") from None
        if not name or any(ch.isspace() for ch in name):
            raise NoteError("a witness key's name is text without spaces or '+'")
        if len(raw) != 33 or raw[:1] != _COSIGNATURE_V1:
            raise NoteError("a witness key holds a cosignature/v1 (0x04) Ed25519 public key")
        if _key_hash(name, raw[1:]) != key_hash:
            raise NoteError("the witness key's hash does not match its name and key")
        return cls(name, key_hash, Ed25519PublicKey.from_public_bytes(raw[1:]))

    def timestamp_of(self, text: str, line: str) -> int | None:
        """The time of this witness's valid cosignature of ``text`` on a note signature line; None otherwise."""
        if not line.startswith(_SIGNATURE_PREFIX):
            return None
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None
        if name != self.name or len(raw) != _SIGNATURE_SIZE or int.from_bytes(raw[:4], "big") != self.key_hash:
            return None
        (timestamp,) = struct.unpack(">Q", raw[4:12])
        try:
            self.public.verify(raw[12:], cosigned_message(text, timestamp))
        except InvalidSignature:
            return None
        return int(timestamp)


def signature_lines(note: str) -> tuple[str, list[str]]:
    """A note's text and its signature lines; raise NoteError when it has none."""
    text, separator, block = note.rpartition("\n\n")
    if not separator or not block.endswith("\n"):
        raise NoteError("a note ends with a blank line and signature lines")
    return text + "\n", block[:-1].split("\n")


def cosigners(note: str, witnesses: list[WitnessKey]) -> dict[str, int]:
    """The witnesses whose valid cosignature the note carries, by name, with each one's time."""
    text, lines = signature_lines(note)
    found: dict[str, int] = {}
    for witness in witnesses:
        for line in lines:
            timestamp = witness.timestamp_of(text, line)
            if timestamp is not None:
                found[witness.name] = timestamp
                break
    return found
