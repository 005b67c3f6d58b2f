"""The summaries collection on MongoDB: one per instance, written before its first entry and moved on after
each insert (entries.py); a summary an insert outran is repaired as it is read."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure

from process_memory.db import unavailable_on
from process_memory.history.mongo.database import KEYED_FROM, MongoCollections, bounded
from process_memory.history.mongo.documents import any_of, beyond, entry_key, starting_with, summary_from_document
from process_memory.history.queries import DESCENDING_ORDERS, ORDER_KEYS, SummaryListing
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
    def summaries_in_order(self, listing: SummaryListing) -> list[InstanceSummary]:
        """Return a page of summaries in the listing's order, past (or before) its position, filtered, each checked
        for staleness. A placeholder (a first append that never completed) is read and left out, so the page
        goes on past it until it is full or the listing ends."""
        fields = ["_id" if name == "instance_id" else name for name in ORDER_KEYS[listing.order]]
        descending = (listing.order in DESCENDING_ORDERS) != listing.backward
        criteria: dict[str, Any] = {}
        if listing.prefix:
            criteria["_id"] = starting_with(listing.prefix)
        if listing.head_type is not None:
            criteria["head_type"] = listing.head_type
        if listing.failed is not None:
            criteria["head_failed"] = listing.failed
        sort = [(field, DESCENDING if descending else ASCENDING) for field in fields]
        position, found = listing.position, list[InstanceSummary]()
        while True:
            wanted = listing.limit - len(found)
            where = (
                {"$and": [criteria, beyond(fields, position, "$lt" if descending else "$gt")]} if position else criteria
            )
            docs = list(bounded(self._collections.summaries().find(where).sort(sort), wanted))
            found += [summary for summary in self._fresh(docs) if summary is not None]
            if len(docs) < wanted or len(found) >= listing.limit:
                return found
            position = tuple(docs[-1][field] for field in fields)

    @unavailable_on_network_error
    def copies_of(self, instance_id: str, prefix: str, limit: int) -> list[InstanceSummary]:
        """Return the summaries of the instances copied from this one, by id."""
        criteria: dict[str, Any] = {"copied_from": instance_id}
        if prefix:
            criteria["_id"] = starting_with(prefix)
        cursor = self._collections.summaries().find(criteria).sort("_id", ASCENDING)
        return [summary for summary in self._fresh(list(bounded(cursor, limit))) if summary is not None]

    @unavailable_on_network_error
    def head_types(self, prefix: str, limit: int) -> list[str]:
        """Return the distinct types of the instances' last entries (of ids that start with ``prefix``), in order:
        one ``distinct``, which MongoDB answers from the head-type index."""
        within = {"_id": starting_with(prefix)} if prefix else {}
        types = self._collections.summaries().distinct("head_type", within)
        return sorted(found for found in types if isinstance(found, str))[:limit]

    @unavailable_on_network_error
    def touched_since(self, since: str, after: tuple[str, str] | None, limit: int) -> list[InstanceSummary]:
        """Return the summaries last moved on at ``since`` or later, by (last_recorded_at, _id), each checked for
        staleness."""
        criteria: dict[str, Any] = {"last_recorded_at": {"$gte": since}}
        if after is not None:
            criteria = {"$and": [criteria, beyond(("last_recorded_at", "_id"), after)]}
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


def create_summary_indexes(summaries: Collection[Any]) -> None:
    """Create the summaries' indexes: the instance list's, filtered by the last entry's type or by failure, the most
    recent first; and the one an instance's page finds its copies by. (The index by last activity alone is the
    service log's, anchors.py; by size, a list reads every summary, as on SQL.)"""
    summaries.create_index(
        [("head_type", ASCENDING), ("last_recorded_at", ASCENDING), ("_id", ASCENDING)], name="head_type"
    )
    summaries.create_index(
        [("head_failed", ASCENDING), ("last_recorded_at", ASCENDING), ("_id", ASCENDING)], name="failed"
    )
    summaries.create_index([("copied_from", ASCENDING), ("_id", ASCENDING)], name="copied_from")
