"""A monitor of the service log (docs/proofs.md, "The monitor"): it keeps the last service checkpoint it accepted,
and for each new one checks the service's signature, the witnesses' quorum and the log's consistency, reads the
new leaves from the tiles (their tree must make the new root), then checks each instance: its size never shrinks,
its successive anchored trees are consistent, and it still exists.

What it keeps lives in one SQLite file in its state directory: the accepted checkpoint, the log tree's frontier,
and every anchored tree it read, by instance. Each problem is a ``Finding``; the command prints one JSON line for
each (``process-memory monitor``).
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from process_memory.client.api import Client
from process_memory.client.errors import NotFound
from process_memory.formats import format_timestamp
from process_memory.proofs.anchors import LeafError, parse_leaf
from process_memory.proofs.checkpoints import Checkpoint, open_checkpoint
from process_memory.proofs.cosignatures import WitnessKey, cosigners
from process_memory.proofs.notes import NoteError, Verifier
from process_memory.proofs.tiles import TILE_WIDTH, encode_index, read_entry_bundle
from process_memory.proofs.tlog import ProofError, check_tree
from process_memory.proofs.trees import LogTree

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (one INTEGER PRIMARY KEY CHECK (one = 1), size INTEGER, root BLOB, note TEXT);
CREATE TABLE IF NOT EXISTS frontier (record INTEGER PRIMARY KEY, hashes BLOB);
CREATE TABLE IF NOT EXISTS anchored (instance_id TEXT, size INTEGER, root BLOB, PRIMARY KEY (instance_id, size));
CREATE TABLE IF NOT EXISTS listing (one INTEGER PRIMARY KEY CHECK (one = 1), after TEXT);
"""
#: Instances listed per request while checking that every known instance still exists.
_PAGE = 1000
#: Pages of the instance listing a run reads by default: a hundred thousand instances a run, the next run going
#: on where it stopped, so that a run's cost stays bounded as the service grows.
DEFAULT_LIST_PAGES = 100
#: How long entries may wait for their anchor before the monitor says so (rounds run every second).
DEFAULT_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class Finding:
    """Something the monitor caught: what, and where."""

    finding: str
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> dict[str, Any]:
        """The finding as one JSON object."""
        return {"finding": self.finding, **self.details}


class MonitorState:
    """What the monitor accepted so far, in ``<directory>/monitor.sqlite3``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(directory / "monitor.sqlite3")
        self.db.executescript(_SCHEMA)

    def accepted(self) -> tuple[int, bytes | None]:
        """The size and root of the last accepted checkpoint; (0, None) before the first."""
        row = self.db.execute("SELECT size, root FROM accepted").fetchone()
        return (row[0], row[1]) if row else (0, None)

    def tree(self, size: int) -> LogTree:
        """The log tree at the accepted size, from its frontier."""
        return LogTree(size, dict(self.db.execute("SELECT record, hashes FROM frontier").fetchall()))

    def anchored(self, instance_id: str) -> list[tuple[int, bytes]]:
        """Every anchored tree of the instance read so far, by size."""
        rows = self.db.execute("SELECT size, root FROM anchored WHERE instance_id = ? ORDER BY size", (instance_id,))
        return list(rows.fetchall())

    def known(self) -> Iterator[tuple[str, int]]:
        """Each instance read so far, with its largest anchored size."""
        yield from self.db.execute("SELECT instance_id, MAX(size) FROM anchored GROUP BY instance_id ORDER BY 1")

    def accept(self, checkpoint: Checkpoint, note: str, tree: LogTree, leaves: list[tuple[str, int, bytes]]) -> None:
        """Keep the checkpoint, the tree's frontier and the leaves read, at once."""
        with self.db:
            self.db.execute("DELETE FROM accepted")
            self.db.execute("INSERT INTO accepted VALUES (1, ?, ?, ?)", (checkpoint.size, checkpoint.root, note))
            self.db.execute("DELETE FROM frontier")
            self.db.executemany("INSERT INTO frontier VALUES (?, ?)", tree.frontier().items())
            self.db.executemany("INSERT OR REPLACE INTO anchored VALUES (?, ?, ?)", leaves)

    def listed_to(self) -> str | None:
        """The instance id the last run's listing stopped after; None: the next starts from the first."""
        row = self.db.execute("SELECT after FROM listing").fetchone()
        return row[0] if row else None

    def list_to(self, after: str | None) -> None:
        """Keep where the next run's listing starts after."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO listing VALUES (1, ?)", (after,))

    def close(self) -> None:
        """Close the state file."""
        self.db.close()


class Monitor:
    """One service's log, watched from outside with the service's key and the witnesses' keys."""

    def __init__(
        self,
        client: Client,
        state: MonitorState,
        keys: list[Verifier],
        witnesses: list[WitnessKey],
        quorum: int,
        grace: timedelta = DEFAULT_GRACE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        list_pages: int = DEFAULT_LIST_PAGES,
    ) -> None:
        self.client = client
        self.state = state
        self.keys = keys
        self.witnesses = witnesses
        self.quorum = quorum
        #: How long an instance's newest entries may wait unanchored before the monitor reports it.
        self.grace = grace
        self.clock = clock
        #: Pages of the instance listing each run reads, from where the last run stopped.
        self.list_pages = list_pages

    def run_once(self) -> list[Finding]:
        """Check the latest service checkpoint and what it adds; accept it when the log itself holds."""
        note = self.client.request("GET", "/log/checkpoint").text
        try:
            checkpoint = open_checkpoint(note, self.keys)
        except NoteError as refused:
            return [Finding("checkpoint not signed by the service", {"reason": str(refused)})]
        cosigned = sorted(cosigners(note, self.witnesses))
        if len(cosigned) < self.quorum:
            details = {"size": checkpoint.size, "cosigned_by": cosigned, "quorum": self.quorum}
            return [Finding("checkpoint without a quorum of witnesses", details)]
        size, root = self.state.accepted()
        log_finding = self._log_consistency(checkpoint, size, root)
        if log_finding is not None:
            return [log_finding]
        tree = self.state.tree(size)
        leaves, findings = self._new_leaves(checkpoint, tree, size)
        if tree.root() != checkpoint.root:
            return [Finding("the tiles do not make the checkpoint's root", {"size": checkpoint.size})]
        self.state.accept(checkpoint, note, tree, leaves)
        return findings + self._missing_instances()

    def _log_consistency(self, checkpoint: Checkpoint, size: int, root: bytes | None) -> Finding | None:
        details = {"accepted_size": size, "size": checkpoint.size}
        if checkpoint.size < size:
            return Finding("the service log shrank: a rollback or a fork", details)
        if root is None or checkpoint.size == size:
            return None if root in (None, checkpoint.root) else Finding("the service log forked", details)
        proof = self.client.request("GET", "/log/proof/consistency", params={"from": size, "to": checkpoint.size})
        try:
            check_tree([bytes.fromhex(h) for h in proof.json()["proof"]], checkpoint.size, checkpoint.root, size, root)
        except (ProofError, ValueError, KeyError):
            return Finding("the service log forked", details)
        return None

    def _bundles(self, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """The leaves from ``start`` to ``end``, each with its index, from the entry bundles."""
        for tile in range(start // TILE_WIDTH, (end + TILE_WIDTH - 1) // TILE_WIDTH):
            first = tile * TILE_WIDTH
            width = min(TILE_WIDTH, end - first)
            path = encode_index(tile) + ("" if width == TILE_WIDTH else f".p/{width}")
            bundle = read_entry_bundle(self.client.request("GET", f"/log/tile/entries/{path}").content)
            for index, leaf in enumerate(bundle, start=first):
                if index >= start:
                    yield index, leaf

    def _new_leaves(
        self, checkpoint: Checkpoint, tree: LogTree, size: int
    ) -> tuple[list[tuple[str, int, bytes]], list[Finding]]:
        leaves: list[tuple[str, int, bytes]] = []
        findings: list[Finding] = []
        for index, leaf in self._bundles(size, checkpoint.size):
            tree.add(leaf)
            try:
                head = parse_leaf(leaf, checkpoint.origin)
            except LeafError as refused:
                findings.append(
                    Finding("a leaf is not an instance checkpoint", {"leaf": index, "reason": str(refused)})
                )
                continue
            finding = self._instance(head.instance_id, head.size, head.root, leaves)
            if finding is not None:
                findings.append(Finding(finding.finding, {"leaf": index, **finding.details}))
            leaves.append((head.instance_id, head.size, head.root))
        return leaves, findings

    def _instance(
        self, instance_id: str, size: int, root: bytes, pending: list[tuple[str, int, bytes]]
    ) -> Finding | None:
        """Check a newly anchored tree of the instance against the trees of it anchored before."""
        seen = self.state.anchored(instance_id) + [(s, r) for i, s, r in pending if i == instance_id]
        if not seen:
            return None
        last_size, last_root = max(seen)
        details = {"instance_id": instance_id, "anchored_size": last_size, "size": size}
        if size < last_size:
            return Finding("an instance shrank", details)
        if size == last_size:
            return None if root == last_root else Finding("an instance was rewritten", details)
        try:
            proof = self.client.consistency(instance_id, last_size, size)["proof"]
            check_tree([bytes.fromhex(h) for h in proof], size, root, last_size, last_root)
        except NotFound:
            return Finding("an instance was deleted", details)
        except (ProofError, ValueError, KeyError):
            return Finding("an instance was rewritten", details | self._rewritten_seqs(instance_id, seen))
        return None

    def _rewritten_seqs(self, instance_id: str, seen: list[tuple[int, bytes]]) -> dict[str, int]:
        """Where the rewrite is: between the largest anchored tree the service still signs as it was, and the next."""
        good = 0
        for size, root in sorted(seen):
            try:
                now = base64.b64decode(self.client.checkpoint(instance_id, size)["note"].split("\n")[2])
            except (NotFound, KeyError, IndexError, ValueError):
                now = b""
            if now != root:
                return {"seq_from": good, "seq_to": size - 1}
            good = size
        return {"seq_from": good, "seq_to": good}

    def _listed(self) -> tuple[dict[str, tuple[int, str]], str | None, str | None]:
        """The next ``list_pages`` pages of the instance listing, from where the last run stopped (each instance's
        count and last recorded time), and the ids they run after and to (None: from the first, to the last)."""
        listed: dict[str, tuple[int, str]] = {}
        start = after = self.state.listed_to()
        for _ in range(self.list_pages):
            params = {"limit": _PAGE, **({"after": after} if after else {})}
            page = self.client.request("GET", "/instances", params=params).json()
            listed.update((item["instance_id"], (item["count"], item["last_recorded_at"])) for item in page["items"])
            if not page.get("next"):
                self.state.list_to(None)
                return listed, start, None
            after = page["items"][-1]["instance_id"]
        self.state.list_to(after)
        return listed, start, after

    def _missing_instances(self) -> list[Finding]:
        """Every instance read so far, within the ids listed this run, still exists, at its anchored size or
        beyond; and no listed instance's entries older than the grace period wait unanchored (an operator who
        stops anchoring, or anchors only some)."""
        listed, start, end = self._listed()
        known = {
            instance_id: size
            for instance_id, size in self.state.known()
            if (start is None or instance_id > start) and (end is None or instance_id <= end)
        }
        findings = []
        for instance_id, size in known.items():
            if instance_id not in listed:
                findings.append(Finding("an instance was deleted", {"instance_id": instance_id, "anchored_size": size}))
            elif listed[instance_id][0] < size:
                details = {"instance_id": instance_id, "anchored_size": size, "size": listed[instance_id][0]}
                findings.append(Finding("an instance shrank", details))
        overdue = format_timestamp(self.clock() - self.grace)
        for instance_id, (count, last_recorded_at) in listed.items():
            if count > known.get(instance_id, 0) and last_recorded_at < overdue:
                details = {"instance_id": instance_id, "anchored_size": known.get(instance_id, 0), "size": count}
                findings.append(Finding("an instance grows unanchored", details | {"since": last_recorded_at}))
        return findings
