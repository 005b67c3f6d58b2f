"""The instances table on SQL: one summary per instance, moved on in each append's transaction (entries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from process_memory.db import ProcessLocalEngine
from process_memory.history.queries import DESCENDING_ORDERS, ORDER_KEYS, SummaryListing
from process_memory.history.sql.entries import SQLEntries, unavailable_on_database_error
from process_memory.history.sql.tables import Tables, starts_with, summary_from_row
from process_memory.history.store import SummaryStore
from process_memory.history.summaries import InstanceSummary, summary_of


class SQLSummaries(SummaryStore):
    """Instance summaries, each checked against its entries as it is read."""

    def __init__(self, engine: ProcessLocalEngine, tables: Tables, entries: SQLEntries) -> None:
        self._engine = engine
        self.tables = tables
        self._entries = entries

    def _summaries(self, criteria: Any, limit: int, order: Sequence[Any] = ()) -> list[InstanceSummary | None]:
        instances, entries = self.tables.instances, self.tables.entries
        # A summary behind its entries can only come from outside the service; repair it all the same.
        stale = (
            sa.select(entries.c.seq)
            .where(entries.c.instance_id == instances.c.instance_id, entries.c.seq == instances.c.head_seq + 1)
            .exists()
        )
        statement = (
            sa.select(instances, stale.label("stale"))
            .where(criteria)
            .order_by(*(order or [instances.c.instance_id]))
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(statement).all()
        return [self.repair(row.instance_id) if row.stale else summary_from_row(row) for row in rows]

    @unavailable_on_database_error
    def summary(self, instance_id: str) -> InstanceSummary | None:
        """Return the instance's summary."""
        found = self._summaries(self.tables.instances.c.instance_id == instance_id, 1)
        return found[0] if found else None

    @unavailable_on_database_error
    def summaries_in_order(self, listing: SummaryListing) -> list[InstanceSummary]:
        """Return a page of summaries in the listing's order, past (or before) its position, filtered."""
        instances = self.tables.instances
        columns = [instances.c[name] for name in ORDER_KEYS[listing.order]]
        descending = (listing.order in DESCENDING_ORDERS) != listing.backward
        criteria = [instances.c.head_seq >= 0, starts_with(instances.c.instance_id, listing.prefix)]
        if listing.position is not None:
            position = sa.tuple_(*map(sa.literal, listing.position))
            criteria.append(sa.tuple_(*columns) < position if descending else sa.tuple_(*columns) > position)
        if listing.head_type is not None:
            criteria.append(instances.c.head_type == listing.head_type)
        if listing.failed is not None:
            # Spelt as the failed index's own condition, so that the planner sees it applies.
            criteria.append(sa.text("head_failed") if listing.failed else instances.c.head_failed.is_(False))
        order = [column.desc() if descending else column.asc() for column in columns]
        found = self._summaries(sa.and_(*criteria), listing.limit, order)
        return [summary for summary in found if summary is not None]

    @unavailable_on_database_error
    def copies_of(self, instance_id: str, prefix: str, limit: int) -> list[InstanceSummary]:
        """Return the summaries of the instances copied from this one, by id (from the index of copies)."""
        instances = self.tables.instances
        criteria = sa.and_(instances.c.copied_from == instance_id, starts_with(instances.c.instance_id, prefix))
        return [summary for summary in self._summaries(criteria, limit) if summary is not None]

    @unavailable_on_database_error
    def head_types(self, prefix: str, limit: int) -> list[str]:
        """Return the distinct types of the instances' last entries (of ids that start with ``prefix``), in order;
        from the head-type index, one step per type (a loose index scan), so an instance count does not matter."""
        instances = self.tables.instances
        within = starts_with(instances.c.instance_id, prefix)
        found: list[str] = []
        with self._engine.connect() as conn:
            while len(found) < limit:
                after = instances.c.head_type > found[-1] if found else instances.c.head_type.is_not(None)
                following = conn.execute(sa.select(sa.func.min(instances.c.head_type)).where(after, within)).scalar()
                if following is None:
                    return found
                found.append(following)
        return found

    @unavailable_on_database_error
    def touched_since(self, since: str, after: tuple[str, str] | None, limit: int) -> list[InstanceSummary]:
        """Return the summaries last moved on at ``since`` or later, by (last_recorded_at, instance_id)."""
        instances = self.tables.instances
        order = (instances.c.last_recorded_at, instances.c.instance_id)
        statement = sa.select(instances).where(instances.c.last_recorded_at >= since, instances.c.head_seq >= 0)
        if after is not None:
            statement = statement.where(sa.tuple_(*order) > sa.tuple_(*map(sa.literal, after)))
        with self._engine.connect() as conn:
            rows = conn.execute(statement.order_by(*order).limit(limit)).all()
        return [summary for summary in map(summary_from_row, rows) if summary is not None]

    def recount(self, instance_id: str) -> InstanceSummary | None:
        """The summary the instance's first entry and head make (two indexed reads)."""
        return summary_of(self._entries.get_by_seq(instance_id, 0), self._entries.head(instance_id))

    def save_if_behind(self, summary: InstanceSummary) -> None:
        """Store the summary unless the stored one is at its head seq or past it."""
        instances = self.tables.instances
        with self._engine.begin() as conn:
            conn.execute(
                instances.update()
                .where(instances.c.instance_id == summary.instance_id, instances.c.head_seq < summary.head_seq)
                .values(**summary.progress())
            )
