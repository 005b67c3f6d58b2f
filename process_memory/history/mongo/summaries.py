"""The summaries collection on MongoDB: one per instance, written before its first entry and moved on after
each insert (entries.py); a summary an insert outran is repaired as it is read."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import ConnectionFailure

from process_memory.db import unavailable_on
from process_memory.history.mongo.database import KEYED_FROM, MongoCollections, bounded
from process_memory.history.mongo.documents import any_of, entry_key, starting_with, summary_from_document
from process_memory.history.store import SummaryStore
from process_memory.history.summaries import InstanceSummary, summary_of

unavailable_on_network_error = unavailable_on(ConnectionFailure)


class MongoSummaries(SummaryStore):
    """Instance summaries, each checked against its entries as it is read."""

    def __init__(self, collections: MongoCollections) -> None:
        self._collections = collections

    @unavailable_on_network_error
    def summary(self, instance_id: str) -> InstanceSummary | None:
        """Return the instance's summary, repaired first when an append outran it."""
        doc = self._collections.summaries().find_one({"_id": instance_id})
        return self._fresh([doc])[0] if doc else None

    @unavailable_on_network_error
    def list_summaries(self, after: str | None, limit: int, prefix: str = "") -> list[InstanceSummary]:
        """Return summaries by instance id (of ids that start with ``prefix``), each checked for staleness in one
        query per page."""
        criteria: dict[str, Any] = {"_id": {"$gt": after}} if after is not None else {}
        if prefix:
            criteria = {"$and": [criteria, {"_id": starting_with(prefix)}]}
        docs = list(bounded(self._collections.summaries().find(criteria).sort("_id", ASCENDING), limit))
        return [summary for summary in self._fresh(docs) if summary is not None]

    @unavailable_on_network_error
    def recent_summaries(self, before: tuple[str, str] | None, limit: int, prefix: str = "") -> list[InstanceSummary]:
        """Return summaries by (last_recorded_at, _id), the most recent first (of ids that start with ``prefix``),
        each checked for staleness."""
        criteria: dict[str, Any] = {"head_seq": {"$gte": 0}}
        if prefix:
            criteria["_id"] = starting_with(prefix)
        if before is not None:
            at, instance_id = before
            earlier = {
                "$or": [{"last_recorded_at": {"$lt": at}}, {"last_recorded_at": at, "_id": {"$lt": instance_id}}]
            }
            criteria = {"$and": [criteria, earlier]}
        order = [("last_recorded_at", DESCENDING), ("_id", DESCENDING)]
        cursor = self._collections.summaries().find(criteria).sort(order)
        return [summary for summary in self._fresh(list(bounded(cursor, limit))) if summary is not None]

    @unavailable_on_network_error
    def touched_since(self, since: str, after: tuple[str, str] | None, limit: int) -> list[InstanceSummary]:
        """Return the summaries last moved on at ``since`` or later, by (last_recorded_at, _id), each checked for
        staleness."""
        criteria: dict[str, Any] = {"last_recorded_at": {"$gte": since}}
        if after is not None:
            at, instance_id = after
            criteria = {
                "$and": [
                    criteria,
                    {"$or": [{"last_recorded_at": {"$gt": at}}, {"last_recorded_at": at, "_id": {"$gt": instance_id}}]},
                ]
            }
        order = [("last_recorded_at", ASCENDING), ("_id", ASCENDING)]
        cursor = self._collections.summaries().find(criteria).sort(order)
        return [summary for summary in self._fresh(list(bounded(cursor, limit))) if summary is not None]

    def _fresh(self, docs: list[dict[str, Any]]) -> list[InstanceSummary | None]:
        """Repair the summaries whose instance has an entry past the recorded head, found in one query per page (on
        FerretDB 1.x, one scan of the entries where an ``_id`` lookup per summary would make one each)."""
        if not docs:
            return []
        legacy = [{"instance_id": doc["_id"], "seq": doc["head_seq"] + 1} for doc in docs if KEYED_FROM not in doc]
        past_heads = [entry_key(doc["_id"], doc["head_seq"] + 1) for doc in docs if KEYED_FROM in doc]
        stale = set()
        for criteria, most in (({"$or": legacy}, len(legacy)), (any_of("_id", past_heads), len(past_heads))):
            if most:
                cursor = self._collections.entries().find(criteria, {"instance_id": 1})
                stale |= {hit["instance_id"] for hit in bounded(cursor, most)}
        return [self.repair(doc["_id"]) if doc["_id"] in stale else summary_from_document(doc) for doc in docs]

    def recount(self, instance_id: str) -> InstanceSummary | None:
        """The summary the instance's first entry and its last, found by a scan of its seqs, make."""
        return summary_of(self._collections.at_seq(instance_id, 0), self._collections.scan_head(instance_id))

    def save_if_behind(self, summary: InstanceSummary) -> None:
        """Store the summary unless the stored one is at its head seq or past it."""
        self._collections.summaries().update_one(
            {"_id": summary.instance_id, "head_seq": {"$lt": summary.head_seq}}, {"$set": summary.progress()}
        )
