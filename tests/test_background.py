"""A worker's background loops: when each waits before its next tick (the loops themselves run in the contract
suites of state expiry and anchoring)."""

from __future__ import annotations

from unittest.mock import Mock

from process_memory.anchoring.loop import AnchoringLoop
from process_memory.state import ExpirySweeper


def test_anchoring_rounds_start_every_interval_whatever_a_round_took() -> None:
    loop = AnchoringLoop(Mock(), 1.0)
    assert loop.pause(0.0) == 1.0
    assert loop.pause(0.25) == 0.75  # a round of 0.25 s: the next starts 1 s after this one started
    assert loop.pause(1.5) == 0.0  # a round longer than the interval: the next starts at once, none is skipped


def test_expiry_sweeps_wait_half_to_all_of_their_interval_so_workers_spread_apart() -> None:
    sweeper = ExpirySweeper(Mock(), 60.0)
    pauses = {sweeper.pause(elapsed) for elapsed in (0.0, 5.0, 100.0) for _ in range(200)}
    assert all(30.0 <= pause <= 60.0 for pause in pauses)
    assert len(pauses) > 100  # jittered, not one fixed wait
    assert min(pauses) < 40.0 and max(pauses) > 50.0
