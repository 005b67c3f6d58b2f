"""The tables the service log keeps in the history's database, as rows (history/rows.py). What a leaf is lives in
proofs/anchors.py, which the offline verifier shares."""

from __future__ import annotations

from process_memory.history.rows import RowTable

#: Leaf n of the service log: its text, its instance, and the tree hashes its write stored (proofs/tlog.py).
LEAVES = RowTable("anchor_leaves", ("position",))
#: Each instance's latest anchored size, and the leaf that holds it.
ANCHORED = RowTable("anchor_instances", ("instance_id",))
#: The signed service checkpoints, by size, with the cosignatures gathered for each.
CHECKPOINTS = RowTable("anchor_checkpoints", ("size",))
#: The size each witness last cosigned.
WITNESSED = RowTable("anchor_witnesses", ("name",))
#: Who anchors, until when.
LEASES = RowTable("anchor_leases", ("name",))
