"""The anchoring round: one writer, across every worker and host, appends a leaf for each instance whose tree grew,
signs the service log's new size, and gathers the witnesses' cosignatures.

The writer holds a lease, a row of the store's rows: taken when free or expired, renewed by every round, and so
taken over once its holder stops renewing it. The round never touches the append path: it reads the instances
whose last entry is recent from the summaries' index (with a window for writers whose clocks or commits lag),
sweeps every instance when it first takes the lease, and computes each grown instance's root from the tree
hashes its entries already hold.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from process_memory.anchoring.checkpoints import CheckpointBook
from process_memory.anchoring.leaves import LEASES, InstanceHead
from process_memory.anchoring.log import LostRace, ServiceLog
from process_memory.anchoring.witnesses import Refusal, Witness, add_checkpoint
from process_memory.formats import format_timestamp
from process_memory.history.rows import AnyOf, Compare
from process_memory.history.store import HistoryStore
from process_memory.history.summaries import InstanceSummary
from process_memory.proofs.notes import Signer
from process_memory.proofs.tlog import tree_hash
from process_memory.proofs.trees import InstanceTree, MissingTree

log = logging.getLogger(__name__)

#: How long a lease lasts without renewal: a writer that stops for this long is replaced.
LEASE_SECONDS = 15.0
#: How far back from the latest time seen a round looks again, for entries whose commit or clock lagged.
WINDOW = timedelta(seconds=60)
#: Summaries read per query, and leaves appended per round at most (the rest wait for the next round).
BATCH = 1000
MAX_LEAVES_PER_ROUND = 10_000


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
        self.holder = holder or uuid.uuid4().hex
        self.log = ServiceLog(store.rows)
        self.book = CheckpointBook(store.rows)
        self._since: str | None = None  # None: sweep every instance

    def run_round(self) -> RoundReport:
        """Take or renew the lease; if held, anchor what grew and gather cosignatures for the latest size."""
        now = self.clock()
        if not self._take_lease(now):
            self._since = None  # whoever holds it now may leave anything behind when it stops
            return RoundReport(held_lease=False)
        report = RoundReport(held_lease=True)
        heads, latest_seen = self._grown_heads(now)
        at = self.log.size()
        try:
            report.size = self.log.append(heads, self.settings.origin, at)
        except LostRace as race:
            log.warning("anchoring round given up: %s", race)
            self._since = None
            return report
        report.appended = report.size - at
        self._since = format_timestamp(latest_seen - WINDOW) if latest_seen else self._since
        if report.size:
            self._sign_and_witness(report, now)
        return report

    def _take_lease(self, now: datetime) -> bool:
        moment = now.timestamp()
        row = {"name": "anchoring", "holder": self.holder, "expires_at": moment + LEASE_SECONDS}
        mine_or_free = AnyOf([[Compare("holder", "==", self.holder)], [Compare("expires_at", "<", moment)]])
        return self.store.rows.put(LEASES, row, only_if=[mine_or_free])

    def _touched(self) -> list[InstanceSummary]:
        """The summaries this round looks at: those recent enough, or every one on a sweep."""
        found: list[InstanceSummary] = []
        summaries = self.store.summaries
        while len(found) < MAX_LEAVES_PER_ROUND:
            if self._since is None:
                page = summaries.list_summaries(found[-1].instance_id if found else None, BATCH)
            else:
                after = (found[-1].last_recorded_at, found[-1].instance_id) if found else None
                page = summaries.touched_since(self._since, after, BATCH)
            found.extend(page)
            if len(page) < BATCH:
                break
        return found

    def _grown_heads(self, now: datetime) -> tuple[list[InstanceHead], datetime | None]:
        """The heads of the instances whose tree grew since their last leaf, by instance id, and the latest time
        of an entry seen."""
        touched = self._touched()
        if not touched:
            return [], None
        anchored = self.log.anchored_sizes([summary.instance_id for summary in touched])
        heads = []
        for summary in sorted(touched, key=lambda summary: summary.instance_id):
            if summary.count > anchored.get(summary.instance_id, 0):
                root = self._root(summary.instance_id, summary.count)
                if root is not None:
                    heads.append(InstanceHead(summary.instance_id, summary.count, root))
        latest = max(summary.last_recorded_at for summary in touched)
        return heads, min(now, datetime.fromisoformat(latest.replace("Z", "+00:00")))

    def _root(self, instance_id: str, size: int) -> bytes | None:
        """The instance's root at ``size`` from its stored tree; None for an instance from before trees."""
        trees = self.store.trees
        try:
            return tree_hash(size, InstanceTree(lambda seqs: trees.tree_hashes(instance_id, seqs)).read)
        except MissingTree:
            return None

    def _sign_and_witness(self, report: RoundReport, now: datetime) -> None:
        settings = self.settings
        needed = settings.quorum if settings.witnesses else 0
        self.book.sign(settings.signer, settings.origin, report.size, self.log.root(report.size), now, needed == 0)
        checkpoint = self.book.at_size(report.size)
        if checkpoint is None or not settings.witnesses or len(checkpoint.cosigners) >= len(settings.witnesses):
            return
        lines: dict[str, str] = {}
        for witness in settings.witnesses:
            if witness.name in checkpoint.cosigners:
                continue
            try:
                lines[witness.name] = self._cosign(witness, checkpoint.note, report.size, now)
            except Refusal as refusal:
                report.refusals[witness.name] = refusal
                log.warning("witness %s refused service checkpoint %d (%s)", witness.name, report.size, refusal)
        self.book.add_cosignatures(checkpoint, lines, needed)
        report.cosigned_by = sorted(lines)

    def _cosign(self, witness: Witness, note: str, size: int, now: datetime) -> str:
        """Submit the checkpoint from the size the witness holds; once more from the size a 409 says it holds."""
        old = self.book.witnessed_size(witness.name)
        for attempt in range(2):
            proof = self.log.prove_consistency(old, size) if 0 < old <= size else []
            try:
                line = add_checkpoint(self.http, witness, note, old, proof)
            except Refusal as refusal:
                if refusal.status != 409 or refusal.known_size is None or attempt or refusal.known_size > size:
                    self.book.record_witness(witness.name, old, str(refusal), now)
                    raise
                old = refusal.known_size
                continue
            self.book.record_witness(witness.name, size, None, now)
            return line
        raise AssertionError("unreachable")  # pragma: no cover
