"""The Go verifier (tools/verify, on golang.org/x/mod's tlog and note) accepts what this service's Python signs
and proves, and refuses it changed: the tree hashing, the proofs' order and the note and key formats are Go's."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from process_memory.chain import canonical_json
from process_memory.proofs.checkpoints import Checkpoint
from process_memory.proofs.notes import Signer, generate_key
from process_memory.proofs.tlog import prove_record, prove_tree, record_hash, stored_hashes, tree_hash
from tests.services import ROOT, unavailable

VERIFIER = ROOT / ".cache" / "bin" / "pm-verify"
ORIGIN = "pm.test/instance-1"


@pytest.fixture(scope="module")
def tool() -> Path:
    if not VERIFIER.exists():
        unavailable("the Go verifier is not built (needs Go; `make test` builds it with tools/verify/build.sh)")
    return VERIFIER


@pytest.fixture(scope="module")
def keys() -> tuple[Signer, str]:
    signer_key, verifier_key = generate_key("pm.test")
    return Signer.from_key(signer_key), verifier_key


class Tree:
    """A tree of entry hashes grown through proofs/tlog.py's stored hashes."""

    def __init__(self, size: int) -> None:
        self.entries = [hashlib.sha256(f"entry {n}".encode()).digest() for n in range(size)]
        self.stored: list[bytes] = []
        for n, entry in enumerate(self.entries):
            self.stored.extend(stored_hashes(n, record_hash(entry), self.read))

    def read(self, indexes: object) -> list[bytes]:
        return [self.stored[i] for i in indexes]  # type: ignore[attr-defined]


def _run(tool: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool), *map(str, args)], capture_output=True, text=True, timeout=60)


def _write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _checkpoint(tree: Tree, size: int, signer: Signer, path: Path) -> Path:
    return _write(path, Checkpoint(ORIGIN, size, tree_hash(size, tree.read)).signed(signer))


def _inclusion(tree: Tree, t: int, n: int) -> dict[str, object]:
    audit = prove_record(t, n, tree.read)
    return {"seq": n, "size": t, "leaf_hash": record_hash(tree.entries[n]).hex(), "proof": [h.hex() for h in audit]}


def _consistency(tree: Tree, t: int, old: int) -> dict[str, object]:
    return {"from": old, "to": t, "proof": [h.hex() for h in prove_tree(t, old, tree.read)]}


def test_every_proof_of_every_tree_of_up_to_33_entries_checks(
    tool: Path, keys: tuple[Signer, str], tmp_path: Path
) -> None:
    signer, verifier_key = keys
    tree = Tree(33)
    checkpoints = {t: _checkpoint(tree, t, signer, tmp_path / f"cp{t}") for t in range(1, 34)}
    for t in range(1, 34):
        for n in range(t):
            proof = _write(tmp_path / "inclusion.json", _inclusion(tree, t, n))
            entry = tree.entries[n].hex()
            checked = _run(tool, "inclusion", "-key", verifier_key, "-entry-hash", entry, checkpoints[t], proof)
            assert checked.returncode == 0, checked.stderr
        for old in range(1, t + 1):
            proof = _write(tmp_path / "consistency.json", _consistency(tree, t, old))
            checked = _run(tool, "consistency", "-key", verifier_key, checkpoints[old], checkpoints[t], proof)
            assert checked.returncode == 0, checked.stderr


def test_random_proofs_in_a_tree_of_ten_thousand_check(tool: Path, keys: tuple[Signer, str], tmp_path: Path) -> None:
    signer, verifier_key = keys
    tree = Tree(10_000)
    draw = random.Random(9162)
    for _ in range(25):
        t = draw.randint(2, 10_000)
        old = draw.randint(1, t - 1)
        n = draw.randint(0, t - 1)
        new_cp, old_cp = (
            _checkpoint(tree, t, signer, tmp_path / "new"),
            _checkpoint(tree, old, signer, tmp_path / "old"),
        )
        inclusion = _run(
            tool, "inclusion", "-key", verifier_key, new_cp, _write(tmp_path / "i", _inclusion(tree, t, n))
        )
        consistency = _run(
            tool,
            "consistency",
            "-key",
            verifier_key,
            old_cp,
            new_cp,
            _write(tmp_path / "c", _consistency(tree, t, old)),
        )
        assert (inclusion.returncode, consistency.returncode) == (0, 0), inclusion.stderr + consistency.stderr


def test_what_was_changed_or_signed_by_another_key_is_refused(
    tool: Path, keys: tuple[Signer, str], tmp_path: Path
) -> None:
    signer, verifier_key = keys
    tree = Tree(21)
    cp21, cp13 = _checkpoint(tree, 21, signer, tmp_path / "cp21"), _checkpoint(tree, 13, signer, tmp_path / "cp13")
    inclusion, consistency = _inclusion(tree, 21, 5), _consistency(tree, 21, 13)
    good_i, good_c = _write(tmp_path / "i.json", inclusion), _write(tmp_path / "c.json", consistency)
    assert _run(tool, "inclusion", "-key", verifier_key, cp21, good_i).returncode == 0
    assert _run(tool, "consistency", "-key", verifier_key, cp13, cp21, good_c).returncode == 0
    flipped = [("0" if h[0] != "0" else "1") + h[1:] for h in consistency["proof"]]  # type: ignore[attr-defined]
    refusals = [
        ("inclusion", cp21, _write(tmp_path / "i2", {**inclusion, "proof": list(reversed(inclusion["proof"]))})),  # type: ignore[call-overload]
        ("inclusion", cp21, _write(tmp_path / "i3", {**inclusion, "seq": 6})),
        ("inclusion", cp13, good_i),  # a proof for another size
        ("consistency", cp13, cp21, _write(tmp_path / "c2", {**consistency, "proof": flipped})),
        ("consistency", cp21, cp13, good_c),
    ]
    for command, *files in refusals:
        assert _run(tool, command, "-key", verifier_key, *files).returncode == 1, (command, files)
    text = cp21.read_text()
    changed = _write(tmp_path / "changed", text.replace("\n21\n", "\n22\n", 1))
    assert _run(tool, "checkpoint", "-key", verifier_key, changed).returncode == 1
    assert _run(tool, "checkpoint", "-key", generate_key("pm.test")[1], cp21).returncode == 1
    wrong_entry = _run(tool, "inclusion", "-key", verifier_key, "-entry-hash", tree.entries[6].hex(), cp21, good_i)
    assert wrong_entry.returncode == 1 and "seq 5" in wrong_entry.stderr
    assert _run(tool, "inclusion", "-key", verifier_key, cp21).returncode == 2
    assert _run(tool, "checkpoint", cp21).returncode == 2


_JSON_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # any Unicode but lone surrogates
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_JSON_TEXT, inner, max_size=4),
    max_leaves=12,
)
#: Number literals Python never writes, each with its one canonical form.
_LITERALS = ["1E+2", "0.1e1", "-0", "-0.0", "1.0e-7", "1e21", "1e-5", "12345678901234567890123", "0.00010", "5e-324"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_JSON_VALUES, min_size=1, max_size=20), ascii_only=st.booleans())
def test_the_go_reading_of_canonical_json_is_the_services(tool: Path, values: list[object], ascii_only: bool) -> None:
    # Written from docs/storage.md alone, the Go verifier must give the bytes the service hashes, for any value
    # and however the JSON it reads is written.
    lines = [json.dumps(value, ensure_ascii=ascii_only) for value in values] + _LITERALS
    run = subprocess.run([str(tool), "canonical"], input="\n".join(lines).encode(), capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr
    expected = [canonical_json(json.loads(line)) for line in lines]
    assert run.stdout.split(b"\n")[:-1] == expected
