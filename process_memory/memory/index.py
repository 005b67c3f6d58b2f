"""Where the current memory and the lineage indexes are kept: four tables of rows, written once for every backend.

The memory is a projection of the log (history/projections.py). ``MemoryIndex`` is its writer and its reader,
against the rows every history store offers (history/rows.py). ``views`` holds one row per instance (small
fields and pointers into the chain); ``reads`` the entities each instance read by query, ``read_tables`` the
(tag, table) pairs those reads came from, and ``items`` the appended ``instance_filter`` and ``inputs`` items.
Each backend declares only the tables' columns and indexes: ``memory/sql.py`` (tests/test_memory_plans.py checks
that every query below reads an index) and ``memory/mongo.py``.

On SQL a fold is written in its entries' transaction. On MongoDB an append first marks the view (``pending_seq``,
``dirty``), inserts its entries, then writes the fold conditional on the seq the view was at; every row a fold
writes has a key made of its instance and seq, so writing it twice is harmless, and rows of replaced entities
that an interrupted write left behind are told apart by ``entities_seq``. A view left marked is repaired on read
(``MemoryService.current``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from process_memory.history.projections import ProjectedEntries
from process_memory.history.rows import After, AnyOf, Compare, Condition, In, Row, RowStore, RowTable, RowWriter
from process_memory.history.rows import StartsWith as Prefix
from process_memory.memory.lineage_queries import EXECUTION_SCOPE, EventQuery, ReaderQuery
from process_memory.memory.view import CurrentMemory, ViewFold, ViewWrite, rows_of

VIEWS = RowTable("memory_views", ("instance_id",))
READS = RowTable("memory_reads", ("instance_id", "seq", "position"))
READ_TABLES = RowTable("memory_read_tables", ("instance_id", "seq", "position"))
ITEMS = RowTable("memory_items", ("instance_id", "seq", "kind", "position"))
#: The view's columns every store keeps; ``pending_seq`` and ``dirty`` are the marks of stores without transactions.
VIEW_COLUMNS = tuple(f.name for f in dataclasses.fields(CurrentMemory) if f.name != "pending_seq")
#: Rows read per round trip while collecting distinct reader instances.
READER_BATCH = 256


def view_of(row: Row) -> CurrentMemory:
    """The view a row of ``views`` holds (a row without marks is never stale)."""
    view = CurrentMemory(**{name: row[name] for name in VIEW_COLUMNS if name in row})
    pending = row.get("pending_seq")
    return dataclasses.replace(view, pending_seq=view.applied_seq if pending is None else pending)


def _row_of(view: CurrentMemory) -> Row:
    return {name: getattr(view, name) for name in VIEW_COLUMNS}


def _within(column: str, prefix: str) -> list[Condition]:
    return [Prefix(column, prefix)] if prefix else []


class MemoryIndex(RowWriter):
    """The current memory of each instance and the lineage questions asked across instances, on a store's rows."""

    def __init__(self, rows: RowStore) -> None:
        self.rows = rows

    # -- the projection's writer (history/rows.py) -------------------------------

    def announce(self, rows: RowStore, projected: ProjectedEntries) -> CurrentMemory | None:
        """Return the view the entries fold into; without transactions, first mark it for repair."""
        if rows.transactional:
            return self._view(rows, projected.instance_id)
        before = rows.raise_mark(
            VIEWS,
            {"instance_id": projected.instance_id, "applied_seq": -1},
            "pending_seq",
            projected.last_seq,
            {"dirty": True},
        )
        return view_of(before) if before is not None else None

    def write(self, rows: RowStore, projected: ProjectedEntries, announced: CurrentMemory | None) -> None:
        """Fold the stored entries into the view announced; a view marked already is left to repair."""
        if announced is not None and announced.stale:
            return  # another append's entries may sit between that view and ours
        self._store(rows, ViewFold.of(projected).apply(announced), announced.applied_seq if announced else -1)

    # -- views ---------------------------------------------------------------------

    def _view(self, rows: RowStore, instance_id: str) -> CurrentMemory | None:
        found = rows.find(VIEWS, [Compare("instance_id", "==", instance_id)], limit=1)
        return view_of(found[0]) if found else None

    def load_view(self, instance_id: str) -> CurrentMemory | None:
        """Return the instance's current memory as stored (possibly stale, see ``CurrentMemory.stale``), or None."""
        return self._view(self.rows, instance_id)

    def load_views(self, instance_ids: list[str]) -> list[CurrentMemory]:
        """Return the views of these instances that exist, by instance id."""
        found = self.rows.find(VIEWS, [In("instance_id", instance_ids)], [("instance_id", False)])
        return [view_of(row) for row in found]

    def stale_views(self, limit: int) -> list[str]:
        """Return instances whose view an interrupted append left behind its entries (never any with transactions)."""
        if self.rows.transactional:
            return []
        return [row["instance_id"] for row in self.rows.find(VIEWS, [Compare("dirty", "==", True)], limit=limit)]

    def save_view(self, write: ViewWrite, expected_applied: int) -> bool:
        """Store a fold's write if the stored view is still at ``expected_applied``; return whether it was stored."""
        with self.rows.transaction() as rows:
            if rows.transactional:  # the rows go in first: with a transaction, only if the view will move too
                current = self._view(rows, write.view.instance_id)
                if (current.applied_seq if current else -1) != expected_applied:
                    return False
            return self._store(rows, write, expected_applied)

    def replace_view(self, write: ViewWrite) -> bool:
        """Replace the instance's view, reads and items with a fold of its whole chain (reindex).

        With transactions, return False, changing nothing, when the fold is already behind the chain; without,
        an append the fold missed leaves the view marked, for the next read to repair.
        """
        iid = write.view.instance_id
        with self.rows.transaction() as rows:
            if rows.transactional and rows.head_seq(iid) > write.view.applied_seq:
                return False
            for table in (ITEMS, READS, READ_TABLES):
                rows.delete(table, [Compare("instance_id", "==", iid)])
            self._add_rows(rows, write)
            rows.put(VIEWS, _row_of(write.view))
            self._settle(rows, write)
        return True

    def _store(self, rows: RowStore, write: ViewWrite, expected_applied: int) -> bool:
        # Rows first: a view never points at rows not written yet, and rows written twice are the same rows.
        self._add_rows(rows, write)
        moved = rows.put(
            VIEWS, _row_of(write.view), [Compare("applied_seq", "==", expected_applied)], insert=expected_applied == -1
        )
        if moved:
            self._settle(rows, write)
        return moved

    def _add_rows(self, rows: RowStore, write: ViewWrite) -> None:
        added = rows_of(write)
        rows.add(ITEMS, added["items"])
        for table, name in ((READS, "reads"), (READ_TABLES, "read_tables")):
            rows.add(table, [{**row, "position": n} for n, row in enumerate(added[name])])

    def _settle(self, rows: RowStore, write: ViewWrite) -> None:
        """After the view moved: drop the reads its entities replaced; unmark it unless a later append is pending."""
        view = write.view
        if write.changes_reads and view.entities_seq is not None:
            for table in (READS, READ_TABLES):
                rows.delete(
                    table, [Compare("instance_id", "==", view.instance_id), Compare("seq", "<", view.entities_seq)]
                )
        if not rows.transactional:
            unmarked = {"instance_id": view.instance_id, "dirty": False}
            at_view = [Compare("applied_seq", "==", view.applied_seq), Compare("pending_seq", "<=", view.applied_seq)]
            rows.put(VIEWS, unmarked, at_view, insert=False)

    # -- lineage -------------------------------------------------------------------

    def readers(self, query: ReaderQuery) -> list[str]:
        """Return up to ``query.limit`` instance ids after ``query.after``, ascending, that match ``query``: distinct
        readers whose matching rows belong to their current entities."""
        table = READS if query.entities is not None else READ_TABLES
        criteria = _reader_criteria(query)
        if self.rows.transactional:  # rows of replaced entities never outlive the transaction replacing them
            after_cursor = [Compare("instance_id", ">", query.after)] if query.after is not None else []
            order = [("instance_id", False)]
            found_rows = self.rows.find(table, [*criteria, *after_cursor], order, query.limit, ("instance_id",), True)
            return [row["instance_id"] for row in found_rows]
        after, batch, found = query.after, READER_BATCH, list[str]()
        while len(found) < query.limit:
            page = [*criteria, *([Compare("instance_id", ">", after)] if after is not None else [])]
            rows = self.rows.find(table, page, [("instance_id", False)], batch, ("instance_id", "seq"))
            seqs: dict[str, set[int]] = {}
            for row in rows:
                seqs.setdefault(row["instance_id"], set()).add(row["seq"])
            decided, full = sorted(seqs), len(rows) == batch
            if full and len(decided) == 1:
                batch *= 2  # one instance fills the batch: read more of it at once
                continue
            if full:
                decided = decided[:-1]  # the last instance may go on in the next batch
            views = {view.instance_id: view for view in self.load_views(decided)} if decided else {}
            found += [iid for iid in decided if iid in views and views[iid].entities_seq in seqs[iid]]
            if not full:
                break
            after = decided[-1]
        return found[: query.limit]

    def events(self, query: EventQuery) -> list[CurrentMemory]:
        """Return up to ``query.limit`` views whose event matches, by (reference date, instance id)."""
        criteria: list[Condition] = [
            Compare("process_id", "==", query.process_id),
            Compare("scope", "==", query.scope),
            Compare("reference_date", ">=", query.begin),
            Compare("reference_date", "<=", query.end),
            *_within("instance_id", query.within),
        ]
        if query.after is not None:
            criteria.append(After(("reference_date", "instance_id"), query.after))
        order = [("reference_date", False), ("instance_id", False)]
        return [view_of(row) for row in self.rows.find(VIEWS, criteria, order, query.limit)]

    def tag_tables(self, within: str = "", limit: int = 100) -> list[tuple[str, str]]:
        """Return up to ``limit`` (tag, table) pairs that reads in execution scope came from, in order: one
        index lookup per pair (a loose index scan), however many reads there are."""
        # Reads without a table (a record without ``_metadata.table``) name nothing to ask about.
        base: list[Condition] = [
            Compare("scope", "==", EXECUTION_SCOPE),
            Compare("table_name", ">=", ""),
            *_within("instance_id", within),
        ]
        order = [("image", False), ("table_name", False)]
        found: list[tuple[str, str]] = []
        while len(found) < limit:
            # The first step starts from the smallest tag (which also leaves out reads without one), so that it
            # seeks into the index too rather than reading it from its start.
            past = [After(("image", "table_name"), found[-1])] if found else [Compare("image", ">=", "")]
            rows = self.rows.find(READ_TABLES, [*base, *past], order, 1, ("image", "table_name"))
            if not rows:
                return found
            found.append((rows[0]["image"], rows[0]["table_name"]))
        return found

    def latest_reprocesses(self, originals: list[str], within: str = "") -> dict[str, str]:
        """Return, for each of ``originals`` that was reprocessed, the reprocess with the newest event time
        (of the reprocesses whose id starts with ``within``)."""
        criteria = [In("original_instance_id", originals), *_within("instance_id", within)]
        order = [("original_instance_id", False), ("event_time", True), ("instance_id", True)]
        latest: dict[str, str] = {}
        for row in self.rows.find(VIEWS, criteria, order, columns=("original_instance_id", "instance_id")):
            latest.setdefault(row["original_instance_id"], row["instance_id"])
        return latest

    def items(self, instance_ids: list[str], kind: str, types: list[str] | None = None) -> list[str]:
        """Return the JSON of these instances' ``kind`` items (of these types), by (instance, seq, position)."""
        criteria: list[Condition] = [In("instance_id", instance_ids), Compare("kind", "==", kind)]
        if types is not None:
            criteria.append(In("type", types))
        order = [("instance_id", False), ("seq", False), ("position", False)]
        return [row["item_json"] for row in self.rows.find(ITEMS, criteria, order, columns=("item_json",))]


def _reader_criteria(query: ReaderQuery) -> list[Any]:
    """Reads in execution scope from these tables of these tags (of these entities), in the key's prefix."""
    pairs: list[list[Condition]] = [
        [Compare("image", "==", tag), In("table_name", tables)] for tag, tables in query.tables_by_tag.items()
    ]
    criteria: list[Any] = [AnyOf(pairs), Compare("scope", "==", EXECUTION_SCOPE), *_within("instance_id", query.within)]
    if query.entities is not None:
        criteria.append(In("entity", query.entities))
    return criteria
