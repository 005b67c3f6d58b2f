"""The trees table: the Merkle tree hashes each entry's write stored (history/trees.py), one row per entry.

A row is written in its entry's transaction, so an entry and its tree hashes
are stored together or not at all.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from process_memory.db import ProcessLocalEngine, unavailable_on
from process_memory.entry import StoredEntry
from process_memory.history.sql.tables import Tables
from process_memory.history.store import TreeStore
from process_memory.statements import DriverStatement

_unavailable_on_database_error = unavailable_on(OperationalError)


@functools.cache
def _tree_read(trees: sa.Table, count: int) -> DriverStatement:
    """The read of ``count`` seqs' tree rows: one statement per count (at most 1 + log2 of the seq), each
    built and compiled once, as the append path's other reads are (statements.py)."""
    seqs: list[sa.BindParameter[Any]] = [sa.bindparam(f"seq_{i}") for i in range(count)]
    where = (trees.c.instance_id == sa.bindparam("instance_id"), trees.c.seq.in_(seqs))
    return DriverStatement(sa.select(trees.c.seq, trees.c.hashes).where(*where))


#: (instance, seq) pairs per query of tree_hashes_many: two bound values each, well within SQLite's limit.
_MANY_BATCH = 512


@functools.cache
def _pairs_read(trees: sa.Table, count: int) -> DriverStatement:
    """The read of ``count`` (instance, seq) pairs' tree rows, each pair ORed, not a row-value IN: SQLite answers
    `(instance_id, seq) IN (...)` by scanning the whole table (600 ms at 500,000 entries), the ORed pairs from the
    primary key (12 ms for 5,000 pairs). Compiled once per count, a power of two: built afresh, SQLAlchemy took
    ten times longer than the read."""
    pairs = [
        sa.and_(trees.c.instance_id == sa.bindparam(f"id_{i}"), trees.c.seq == sa.bindparam(f"seq_{i}"))
        for i in range(count)
    ]
    return DriverStatement(sa.select(trees.c.instance_id, trees.c.seq, trees.c.hashes).where(sa.or_(*pairs)))


def _pairs_values(pairs: Sequence[tuple[str, int]]) -> tuple[int, dict[str, Any]]:
    """The statement's count for these pairs (the next power of two) and its values, the last pair repeated to
    fill it (an ORed pair twice matches its row once)."""
    count = 1 << (len(pairs) - 1).bit_length()
    filled = [*pairs, *[pairs[-1]] * (count - len(pairs))]
    values: dict[str, Any] = {}
    for i, (instance_id, seq) in enumerate(filled):
        values[f"id_{i}"], values[f"seq_{i}"] = instance_id, seq
    return count, values


def _batches(pairs: list[tuple[str, int]], size: int) -> list[list[tuple[str, int]]]:
    return [pairs[start : start + size] for start in range(0, len(pairs), size)]


class SQLTrees(TreeStore):
    """The tree rows of the SQL history's entries."""

    def __init__(self, engine: ProcessLocalEngine, tables: Tables) -> None:
        self._engine = engine
        self.tables = tables
        self._tree_insert: DriverStatement | None = None

    @_unavailable_on_database_error
    def tree_hashes(self, instance_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """Return the tree hashes of the entries at these seqs, in one query (inside the writer's transaction
        when there is one: the group's earlier entries are not committed yet)."""
        if not seqs:
            return {}
        values = {"instance_id": instance_id} | {f"seq_{i}": seq for i, seq in enumerate(seqs)}
        with self._engine.connect() as conn:
            return {seq: bytes(hashes) for seq, hashes in _tree_read(self.tables.trees, len(seqs)).rows(conn, values)}

    @_unavailable_on_database_error
    def tree_hashes_many(self, wanted: Mapping[str, Sequence[int]]) -> dict[str, dict[int, bytes]]:
        """Return the tree hashes of several instances' entries: on PostgreSQL one query joining two arrays (a
        statement of two values, planned at once); elsewhere _MANY_BATCH pairs ORed per query."""
        pairs = [(instance_id, seq) for instance_id, seqs in wanted.items() for seq in seqs]
        found: dict[str, dict[int, bytes]] = {instance_id: {} for instance_id in wanted}
        if not pairs:
            return found
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                rows: list[Any] = list(conn.execute(self._joined(pairs)))
            else:
                rows = []
                for batch in _batches(pairs, _MANY_BATCH):
                    count, values = _pairs_values(batch)
                    rows.extend(_pairs_read(self.tables.trees, count).rows(conn, values))
            for instance_id, seq, hashes in rows:
                found[instance_id][seq] = bytes(hashes)
        return found

    def _joined(self, pairs: list[tuple[str, int]]) -> sa.Select[Any]:
        trees = self.tables.trees
        selected = sa.select(trees.c.instance_id, trees.c.seq, trees.c.hashes)
        ids = sa.cast([instance_id for instance_id, _ in pairs], postgresql.ARRAY(sa.Text))
        seqs = sa.cast([seq for _, seq in pairs], postgresql.ARRAY(sa.BigInteger))
        wanted = sa.func.unnest(ids, seqs).table_valued("instance_id", "seq").render_derived(name="wanted")
        joined = trees.join(wanted, sa.and_(trees.c.instance_id == wanted.c.instance_id, trees.c.seq == wanted.c.seq))
        return selected.select_from(joined)

    @_unavailable_on_database_error
    def save_trees(self, instance_id: str, trees: dict[int, bytes]) -> None:
        """Store rebuilt tree rows of existing entries, in one transaction."""
        with self._engine.begin() as conn:
            self._upsert_trees(conn, [{"instance_id": instance_id, "seq": s, "hashes": h} for s, h in trees.items()])

    def insert_rows(self, conn: Connection, entries: list[StoredEntry]) -> None:
        """Write the tree rows of entries being inserted, in their transaction."""
        rows: list[Mapping[str, Any]] = [
            {"instance_id": e.instance_id, "seq": e.seq, "hashes": e.tree} for e in entries if e.tree is not None
        ]
        self._upsert_trees(conn, rows)

    def _upsert_trees(self, conn: Connection, rows: list[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if self._tree_insert is None:
            # An entry written at a seq replaces whatever row that seq had: one left by entries deleted
            # behind the service's back must not stall every later append.
            trees = self.tables.trees
            insert = self._engine.upsert(trees)
            upsert = insert.on_conflict_do_update(
                index_elements=[trees.c.instance_id, trees.c.seq], set_={"hashes": insert.excluded.hashes}
            )
            self._tree_insert = DriverStatement(upsert, column_keys=("instance_id", "seq", "hashes"))
        self._tree_insert.run_many(conn, rows)
