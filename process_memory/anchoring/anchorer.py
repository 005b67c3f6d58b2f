"""The anchoring round: one writer, across every worker and host, appends a leaf for each instance whose tree grew,
signs the service log's new size, and gathers the witnesses' cosignatures.

The writer holds a lease, a row of the store's rows: taken when free or expired, renewed by every round, and so
taken over once its holder stops renewing it. The round never touches the append path: it reads the instances
whose last entry is recent from the summaries' index (with a window for writers whose clocks or commits lag)
and the next page of a sweep of every instance that goes on round after round, and computes each grown
instance's root from the tree hashes its entries already hold.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from process_memory.anchoring.checkpoints import CheckpointBook, ServiceCheckpoint
from process_memory.anchoring.leaves import LEASES
from process_memory.anchoring.log import LostRace, ServiceLog
from process_memory.anchoring.witnesses import Refusal, Witness, add_checkpoint
from process_memory.formats import format_timestamp
from process_memory.history.rows import AnyOf, Compare
from process_memory.history.store import HistoryStore
from process_memory.history.summaries import InstanceSummary
from process_memory.proofs.anchors import InstanceHead
from process_memory.proofs.notes import Signer
from process_memory.proofs.tlog import tree_hash, tree_hash_indexes
from process_memory.proofs.trees import InstanceTree, MissingTree, records_holding

log = logging.getLogger(__name__)

#: The lease's row in LEASES: one writer at a time, across every worker and host.
LEASE_NAME = "anchoring"
#: How long a lease lasts without renewal: a writer that stops for this long is replaced.
LEASE_SECONDS = 15.0
#: How far back from the latest time seen a round looks again, for entries whose commit or clock lagged (a
#: request's database wait is bounded by 5 s; hosts' clocks by NTP). The sweep finds anything later still.
WINDOW = timedelta(seconds=10)
#: Summaries read per query, and recent ones read per round at most (the rest wait).
BATCH = 1000
MAX_LEAVES_PER_ROUND = 10_000
#: Summaries swept per round: a million instances are swept in three hours. The sweep only finds what the recent
#: reads missed (a clock far behind, a summary repaired late), so it need not cost a round more than this.
SWEEP_BATCH = 100
#: Anchored sizes remembered between rounds at most (about 150 bytes each); past it they are read again.
REMEMBERED_SIZES = 200_000
#: How often the anchored sizes are written out (and whenever the lease is given up): the leaves are the truth,
#: and writing each size as it changes would double what a round writes. A writer that dies leaves them this far
#: behind its leaves, and its successor anchors those instances once more, at the same sizes.
RECORD_SECONDS = 30.0


@dataclass
class RoundReport:
    """What one round did."""

    held_lease: bool
    appended: int = 0
    size: int = 0
    cosigned_by: list[str] = field(default_factory=list)
    refusals: dict[str, Refusal] = field(default_factory=dict)


@dataclass(frozen=True)
class AnchoringSettings:
    """What anchoring needs from the configuration."""

    signer: Signer
    origin: str
    witnesses: Sequence[Witness] = ()
    quorum: int = 0


def lease_holder() -> str:
    """A new writer's name in the lease: its host and process, for an operator to find it, then a random part."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def _given(hashes: dict[int, bytes]) -> Callable[[Sequence[int]], dict[int, bytes]]:
    """A tree reader of hashes read already."""
    return lambda seqs: {seq: hashes[seq] for seq in seqs if seq in hashes}


class Anchorer:
    """One worker's part in anchoring: it runs rounds, which do anything only while it holds the lease."""

    def __init__(
        self,
        store: HistoryStore,
        settings: AnchoringSettings,
        clock: Callable[[], datetime],
        http: httpx.Client | None = None,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.http = http or httpx.Client()
        self.holder = holder or lease_holder()
        self.log = ServiceLog(store.rows)
        self.book = CheckpointBook(store.rows)
        self._since = format_timestamp(clock() - WINDOW)
        #: Where the sweep of every instance goes on from: a page of it each round, round and round.
        self._swept_to: str | None = None
        #: The anchored sizes this writer read or wrote, and the log's size they hold at: any other writer's
        #: leaf changes that size, and then they are read again.
        self._anchored: dict[str, int] = {}
        self._anchored_at = -1
        #: Anchored sizes (and their leaves' positions) not written out yet, and when they last were.
        self._unrecorded: dict[str, tuple[int, int]] = {}
        self._recorded_at: datetime | None = None

    def run_round(self) -> RoundReport:
        """Take or renew the lease; if held, anchor what grew and gather cosignatures for the latest size."""
        now = self.clock()
        if not self._take_lease(now):
            return RoundReport(held_lease=False)
        report = RoundReport(held_lease=True)
        at = self.log.size()
        if at != self._anchored_at or len(self._anchored) > REMEMBERED_SIZES:
            self._record_anchored()  # what it knows is true still, and the store's sizes must not fall behind it
            self._anchored.clear()
        heads, latest_seen = self._grown_heads(now)
        try:
            report.size = self._append_and_sign(heads, at, now)
        except LostRace as race:
            log.warning("anchoring round given up: %s", race)
            self._anchored_at = -1
            return report
        self._anchored.update((head.instance_id, head.size) for head in heads)
        self._unrecorded.update((head.instance_id, (head.size, at + n)) for n, head in enumerate(heads))
        self._anchored_at = report.size
        if self._recorded_at is None or now - self._recorded_at >= timedelta(seconds=RECORD_SECONDS):
            self._record_anchored()
            self._recorded_at = now
        report.appended = report.size - at
        self._since = format_timestamp(latest_seen - WINDOW) if latest_seen else self._since
        if report.size:
            self._sign_and_witness(report, now)
        return report

    @property
    def _quorum(self) -> int:
        """Cosignatures a checkpoint needs before it is served (0: none, served once signed)."""
        return self.settings.quorum if self.settings.witnesses else 0

    def _append_and_sign(self, heads: list[InstanceHead], at: int, now: datetime) -> int:
        """Append the leaves and sign the log's new size in one transaction: one commit where the store has them,
        and never leaves without their checkpoint. Return the new size."""
        settings = self.settings
        # With witnesses, not durable: the appends' commits would wait behind its flush (on PostgreSQL, on ÷ paused
        # 0.949 with it, about 1.0 without; bench.anchoring), and the checkpoint is neither served nor seen by a
        # witness before it is flushed (_sign_and_witness). Without, it is served at once: durable.
        # Every read and hash before the transaction: on SQLite it holds the one writer's lock, which the appends
        # wait for (on ÷ paused 0.92-0.94 while the leaves' hashes were computed inside it).
        prepared = self.log.prepare(heads, settings.origin, at)
        with self.store.rows.transaction(durable=not settings.witnesses) as rows_now:
            size = ServiceLog(rows_now).store(prepared)
            if prepared.root is not None and size > at:
                self._sign(CheckpointBook(rows_now), size, prepared.root, now)
        return size

    def _sign(self, book: CheckpointBook, size: int, root: bytes, now: datetime) -> None:
        """Sign the log at ``size`` (its root ``root``): at quorum at once when no witness is configured."""
        settings = self.settings
        book.sign(settings.signer, settings.origin, size, root, now, self._quorum == 0)

    def _take_lease(self, now: datetime) -> bool:
        moment = now.timestamp()
        row = {"name": LEASE_NAME, "holder": self.holder, "expires_at": moment + LEASE_SECONDS}
        mine_or_free = AnyOf([[Compare("holder", "==", self.holder)], [Compare("expires_at", "<", moment)]])
        # Not durable: a renewal a crash loses only lets another writer take the lease sooner, and a second
        # writer cannot interleave leaves (ServiceLog.store).
        with self.store.rows.transaction(durable=False) as rows_now:
            return rows_now.put(LEASES, row, only_if=[mine_or_free])

    def _record_anchored(self) -> None:
        """Write out the anchored sizes not written yet."""
        if self._unrecorded:
            self.log.record_anchored(self._unrecorded)
            self._unrecorded = {}

    def release_lease(self) -> None:
        """Give up the lease if this anchorer holds it, its anchored sizes written out first."""
        self._record_anchored()
        row = {"name": LEASE_NAME, "holder": self.holder, "expires_at": 0.0}
        self.store.rows.put(LEASES, row, only_if=[Compare("holder", "==", self.holder)], insert=False)

    def _touched(self) -> list[InstanceSummary]:
        """The summaries this round looks at: those whose last entry is recent, and the sweep's next page (which
        finds, in time, any instance the recent ones missed: a clock far behind, a summary repaired late)."""
        summaries = self.store.summaries
        found: dict[str, InstanceSummary] = {}
        after: tuple[str, str] | None = None
        while len(found) < MAX_LEAVES_PER_ROUND:
            page = summaries.touched_since(self._since, after, BATCH)
            found.update((summary.instance_id, summary) for summary in page)
            if len(page) < BATCH:
                break
            after = (page[-1].last_recorded_at, page[-1].instance_id)
        swept = summaries.list_summaries(self._swept_to, SWEEP_BATCH)
        self._swept_to = swept[-1].instance_id if len(swept) == SWEEP_BATCH else None
        found.update((summary.instance_id, summary) for summary in swept)
        return list(found.values())

    def _grown_heads(self, now: datetime) -> tuple[list[InstanceHead], datetime | None]:
        """The heads of the instances whose tree grew since their last leaf, by instance id, and the latest time
        of an entry seen."""
        touched = self._touched()
        if not touched:
            return [], None
        anchored = self._anchored_sizes([summary.instance_id for summary in touched])
        grown = {s.instance_id: s.count for s in touched if s.count > anchored.get(s.instance_id, 0)}
        roots = self._roots(grown)
        heads = [InstanceHead(instance_id, grown[instance_id], roots[instance_id]) for instance_id in sorted(roots)]
        latest = max(summary.last_recorded_at for summary in touched)
        return heads, min(now, datetime.fromisoformat(latest.replace("Z", "+00:00")))

    def _anchored_sizes(self, instance_ids: list[str]) -> dict[str, int]:
        """Each instance's latest anchored size (0 for none): those not remembered are read, then remembered."""
        unknown = [instance_id for instance_id in instance_ids if instance_id not in self._anchored]
        if unknown:
            read = self.log.anchored_sizes(unknown)
            self._anchored.update((instance_id, read.get(instance_id, 0)) for instance_id in unknown)
        return self._anchored

    def _roots(self, sizes: dict[str, int]) -> dict[str, bytes]:
        """Each instance's root at its size, from its stored tree, in as few reads as the store allows; an
        instance from before trees is left out."""
        wanted = {instance_id: records_holding(tree_hash_indexes(size)) for instance_id, size in sizes.items()}
        stored = self.store.trees.tree_hashes_many(wanted)
        roots = {}
        for instance_id, size in sizes.items():
            hashes = stored.get(instance_id, {})
            try:
                roots[instance_id] = tree_hash(size, InstanceTree(_given(hashes)).read)
            except MissingTree:
                continue
        return roots

    def _sign_and_witness(self, report: RoundReport, now: datetime) -> None:
        settings = self.settings
        checkpoint = self.book.at_size(report.size)
        if checkpoint is None:  # signed with its leaves, unless a store without transactions failed between
            self._sign(self.book, report.size, self.log.root(report.size), now)
            checkpoint = self.book.at_size(report.size)
        if checkpoint is None or not settings.witnesses or len(checkpoint.cosigners) >= len(settings.witnesses):
            return
        # A witness that cosigned a checkpoint whose leaves a crash then lost would refuse this log for good.
        self.store.rows.wait_until_durable()
        waiting = [witness for witness in settings.witnesses if witness.name not in checkpoint.cosigners]
        asked_from = {witness.name: self.book.witnessed_size(witness.name) for witness in waiting}
        answers = self._submit(waiting, asked_from, checkpoint.note, report.size)
        settled = [
            self._settle(witness, answer, asked_from[witness.name], checkpoint.note, report.size)
            for witness, answer in zip(waiting, answers, strict=True)
        ]
        self._record_answers(report, checkpoint, list(zip(waiting, settled, strict=True)), now)

    def _record_answers(
        self,
        report: RoundReport,
        checkpoint: ServiceCheckpoint,
        settled: list[tuple[Witness, tuple[str | Refusal, int]]],
        now: datetime,
    ) -> None:
        """Keep every witness's answer and the cosignatures in one transaction (one commit where the store has
        them): the size each witness holds, or why it refused, and the cosigned note."""
        lines: dict[str, str] = {}
        # Not durable: answers a crash loses are asked for again by the next round (a witness that cosigned
        # answers 409 with its size, and the retry from there cosigns the same checkpoint).
        with self.store.rows.transaction(durable=False) as rows_now:
            book_now = CheckpointBook(rows_now)
            for witness, (answer, old) in settled:
                if isinstance(answer, Refusal):
                    report.refusals[witness.name] = answer
                    log.warning("witness %s refused service checkpoint %d (%s)", witness.name, report.size, answer)
                    book_now.record_witness(witness.name, old, str(answer), now)
                else:
                    lines[witness.name] = answer
                    book_now.record_witness(witness.name, report.size, None, now)
            book_now.add_cosignatures(checkpoint, lines, self._quorum)
        report.cosigned_by = sorted(lines)

    def _submit(
        self, witnesses: list[Witness], asked_from: dict[str, int], note: str, size: int
    ) -> list[str | Refusal]:
        """Ask every witness at once, each from the size it last cosigned: a slow witness delays the round by its
        own wait, not by the sum of all of theirs. The store is read here, before, not in the threads."""
        requests = []
        for witness in witnesses:
            old = asked_from[witness.name]
            requests.append((witness, old, self.log.prove_consistency(old, size) if 0 < old <= size else []))
        with ThreadPoolExecutor(max_workers=max(1, len(requests))) as pool:
            return list(pool.map(lambda request: _ask(self.http, note, *request), requests))

    def _settle(
        self, witness: Witness, answer: str | Refusal, old: int, note: str, size: int
    ) -> tuple[str | Refusal, int]:
        """The witness's answer to a request from ``old``, and the size it holds if it refused; after a 409, it is
        asked once more from the size it says it holds."""
        if isinstance(answer, Refusal) and answer.status == 409 and answer.known_size is not None:
            if answer.known_size <= size:
                old = answer.known_size
                proof = self.log.prove_consistency(old, size) if old > 0 else []
                answer = _ask(self.http, note, witness, old, proof)
        return answer, old


def _ask(http: httpx.Client, note: str, witness: Witness, old: int, proof: Sequence[bytes]) -> str | Refusal:
    """One ``add-checkpoint``: the cosignature line, or the refusal."""
    try:
        return add_checkpoint(http, witness, note, old, proof)
    except Refusal as refusal:
        return refusal
