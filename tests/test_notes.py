"""Signed notes and checkpoints (proofs/notes.py, proofs/checkpoints.py): the formats, and what is refused."""

from __future__ import annotations

import base64

import pytest

from process_memory.proofs.checkpoints import Checkpoint, open_checkpoint, parse_checkpoint
from process_memory.proofs.notes import NoteError, Signer, Verifier, generate_key, open_note
from process_memory.proofs.tlog import EMPTY_TREE

ROOT = bytes(range(32))


@pytest.fixture(scope="module")
def keys() -> tuple[Signer, Verifier]:
    signer_key, verifier_key = generate_key("pm.example")
    assert signer_key.startswith("PRIVATE+KEY+pm.example+") and verifier_key.startswith("pm.example+")
    return Signer.from_key(signer_key), Verifier.from_key(verifier_key)


def test_a_checkpoint_signs_and_opens_as_it_was(keys: tuple[Signer, Verifier]) -> None:
    signer, verifier = keys
    checkpoint = Checkpoint("pm.example/run-7", 42, ROOT, ("head 0123abcd",))
    note = checkpoint.signed(signer)
    assert note.startswith(f"pm.example/run-7\n42\n{base64.b64encode(ROOT).decode()}\nhead 0123abcd\n\n— pm.example ")
    assert open_checkpoint(note, [verifier]) == checkpoint
    assert parse_checkpoint(Checkpoint("o", 0, EMPTY_TREE).text) == Checkpoint("o", 0, EMPTY_TREE)


def test_a_changed_byte_or_an_unknown_key_is_refused(keys: tuple[Signer, Verifier]) -> None:
    signer, verifier = keys
    note = Checkpoint("pm.example/run-7", 42, ROOT).signed(signer)
    for at in range(len(note.split("\n\n")[0])):
        changed = note[:at] + ("x" if note[at] != "x" else "y") + note[at + 1 :]
        with pytest.raises(NoteError):
            open_checkpoint(changed, [verifier])
    other = Verifier.from_key(generate_key("pm.example")[1])  # the same name, another key
    with pytest.raises(NoteError, match="no known key"):
        open_note(note, [other])
    with pytest.raises(NoteError):
        open_note(note.replace("— pm.example ", "— pm.other "), [verifier])


@pytest.mark.parametrize(
    "text",
    [
        "o\n42\n",
        "\n42\nAAAA\n",
        "o\n042\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n",
        "o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n",
        "o\n1\n" + base64.b64encode(ROOT).decode(),
    ],
)
def test_what_is_not_a_checkpoint_is_refused(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "name+0000+AQ==",
        "na me+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),
        "name+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),  # a hash that does not match
        "name+00000000+" + base64.b64encode(b"\x02" + bytes(32)).decode(),
        "name+00000000+not base64",
    ],
)
def test_a_malformed_verifier_key_is_refused(key: str) -> None:
    with pytest.raises(NoteError):
        Verifier.from_key(key)


def test_a_signer_key_is_refused_without_its_prefix_or_with_another_hash(keys: tuple[Signer, Verifier]) -> None:
    signer_key, _ = generate_key("pm.example")
    with pytest.raises(NoteError):
        Signer.from_key(signer_key.removeprefix("PRIVATE+KEY+"))
    *head, hash_hex, encoded = signer_key.split("+", 4)
    with pytest.raises(NoteError) as refused:
        Signer.from_key("+".join([*head, f"{int(hash_hex, 16) ^ 1:08x}", encoded]))
    assert encoded not in str(refused.value)  # a secret never appears in a message
