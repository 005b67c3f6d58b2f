"""Witnesses, and the C2SP tlog-witness ``add-checkpoint`` call that asks one to cosign a service checkpoint.

A witness is configured by its verifier key (which names it) and its URL (``PROCESS_MEMORY_WITNESSES``):
``<key> <url>`` pairs separated by ``;`` or new lines. The request carries the size the service believes the
witness last cosigned, the consistency proof from that size, and the signed checkpoint; the witness answers with
its cosignature, or 409 and the size it really holds.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from process_memory.proofs.cosignatures import WitnessKey
from process_memory.proofs.notes import NoteError

#: How long a witness may take to answer one request before it counts as refusing.
WITNESS_TIMEOUT_SECONDS = 5.0
#: How much of a refusal's body is kept: the witness's reason, never more.
_REASON_LENGTH = 120


class WitnessConfigError(ValueError):
    """A witness list that cannot be used."""


@dataclass(frozen=True)
class Witness:
    """A witness: its key, which names it, and where it answers."""

    key: WitnessKey
    url: str

    @property
    def name(self) -> str:
        """The witness's name, as its key and cosignature lines give it."""
        return self.key.name


class Refusal(Exception):
    """A witness did not cosign: its status (None when it could not be reached) and why."""

    def __init__(self, status: int | None, reason: str, known_size: int | None = None) -> None:
        super().__init__(f"{status or 'unreachable'}: {reason}")
        self.status = status
        self.reason = reason
        #: On 409, the size the witness last cosigned.
        self.known_size = known_size


def parse_witnesses(text: str) -> tuple[Witness, ...]:
    """Read ``<verifier key> <url>`` pairs, separated by ``;`` or new lines; raise WitnessConfigError naming the
    pair by its place."""
    witnesses: list[Witness] = []
    pairs = [pair.strip() for pair in text.replace("\n", ";").split(";")]
    for number, pair in enumerate((pair for pair in pairs if pair), 1):
        key, _, url = pair.partition(" ")
        try:
            witness_key = WitnessKey.from_key(key)
        except NoteError as error:
            raise WitnessConfigError(f"witness {number}: {error}") from None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise WitnessConfigError(f"witness {number}: its URL is http:// or https://, after its key and a space")
        if any(witness.name == witness_key.name for witness in witnesses):
            raise WitnessConfigError(f"witness {number}: a second witness named {witness_key.name}")
        witnesses.append(Witness(witness_key, url.strip().rstrip("/")))
    return tuple(witnesses)


def add_checkpoint_body(note: str, old_size: int, proof: Sequence[bytes]) -> bytes:
    """The ``add-checkpoint`` request: ``old <size>``, the proof's hashes in base64 one per line, a blank line, and
    the signed checkpoint."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("".join(f"{line}\n" for line in lines) + "\n" + note).encode()


def add_checkpoint(client: httpx.Client, witness: Witness, note: str, old_size: int, proof: Sequence[bytes]) -> str:
    """Ask ``witness`` to cosign the signed checkpoint ``note``; return its cosignature line, checked against its
    key. Raise Refusal when it does not give one."""
    try:
        response = client.post(
            f"{witness.url}/add-checkpoint",
            content=add_checkpoint_body(note, old_size, proof),
            timeout=WITNESS_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as error:
        raise Refusal(None, type(error).__name__) from None
    if response.status_code == 409:
        raise Refusal(409, "it holds another size", _known_size(response.text))
    if response.status_code != 200:
        raise Refusal(response.status_code, _reason(response.text))
    text = note[: note.rindex("\n\n") + 1]
    for line in response.text.splitlines():
        if witness.key.timestamp_of(text, line) is not None:
            return line
    raise Refusal(200, "no valid cosignature by its key in the answer")


def _known_size(body: str) -> int | None:
    first = body.strip().split("\n")[0]
    return int(first) if first.isdigit() and len(first) <= 19 else None


def _reason(body: str) -> str:
    printable = "".join(ch if ch.isprintable() else " " for ch in body.strip())
    return printable[:_REASON_LENGTH] or "no reason given"
