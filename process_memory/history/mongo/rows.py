"""Projections' rows on MongoDB (history/rows.py): one collection per table, named after the entries'.

A table keyed by one column keeps it as the document's ``_id``; a table keyed by several keeps its columns and
an ``_id`` made of them, joined by ":" (so a row written twice is one document). Nothing here is transactional:
a projection marks what it is about to write (``raise_mark``) and repairs on read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from process_memory.history.mongo.database import MongoCollections, bounded
from process_memory.history.mongo.documents import any_of, starting_with
from process_memory.history.rows import After, AnyOf, Compare, Condition, In, Order, Row, RowStore, RowTable

DUPLICATE_KEY = 11000
_OPERATORS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


def _field(table: RowTable, column: str) -> str:
    return "_id" if table.key == (column,) else column


def _criterion(table: RowTable, condition: Condition) -> dict[str, Any]:
    if isinstance(condition, Compare):
        if condition.op == "==":
            return any_of(_field(table, condition.column), [condition.value])
        return {_field(table, condition.column): {_OPERATORS[condition.op]: condition.value}}
    if isinstance(condition, In):
        return any_of(_field(table, condition.column), list(condition.values))
    if isinstance(condition, After):
        # (a, b) > (x, y): a > x, or a = x and b > y; and so on for more columns.
        fields = [_field(table, column) for column in condition.columns]
        ways = [
            {**{f: v for f, v in zip(fields[:n], condition.values[:n])}, fields[n]: {"$gt": condition.values[n]}}
            for n in range(len(fields))
        ]
        return {"$or": ways}
    if isinstance(condition, AnyOf):
        return {"$or": [_criteria(table, alternative) for alternative in condition.alternatives]}
    return {_field(table, condition.column): starting_with(condition.prefix)} if condition.prefix else {}


def _operators(value: Any) -> bool:
    return isinstance(value, dict) and all(name.startswith("$") for name in value)


def _criteria(table: RowTable, where: Sequence[Condition]) -> dict[str, Any]:
    """One filter: conditions on distinct fields side by side, the operators of one field merged, the rest $and."""
    merged: dict[str, Any] = {}
    rest: list[dict[str, Any]] = []
    for condition in where:
        for name, value in _criterion(table, condition).items():
            if name not in merged:
                merged[name] = value
            elif _operators(merged[name]) and _operators(value) and not set(merged[name]) & set(value):
                merged[name] = {**merged[name], **value}
            else:
                rest.append({name: value})
    return {**merged, "$and": rest} if rest else merged


class MongoRows(RowStore):
    """The projections' collections of a MongoDB history store."""

    transactional = False

    def __init__(self, collections: MongoCollections) -> None:
        self._collections = collections

    def _collection(self, table: RowTable) -> Collection[Any]:
        return self._collections.database()[f"{self._collections.collection_name}_{table.name}"]

    def _document(self, table: RowTable, row: Row) -> dict[str, Any]:
        if len(table.key) == 1:
            return {("_id" if name == table.key[0] else name): value for name, value in row.items()}
        return {"_id": ":".join(str(row[name]) for name in table.key), **row}

    def _row(self, table: RowTable, document: dict[str, Any]) -> Row:
        found = dict(document)
        identity = found.pop("_id", None)
        if len(table.key) == 1 and identity is not None:
            found[table.key[0]] = identity
        return found

    @contextlib.contextmanager
    def transaction(self, durable: bool = True) -> Iterator[RowStore]:
        """These rows: MongoDB has no transaction here."""
        yield self

    def find(
        self,
        table: RowTable,
        where: Sequence[Condition],
        order: Sequence[Order] = (),
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        distinct: bool = False,
    ) -> list[Row]:
        """find(), sorted and limited; ``distinct`` skips repeated rows as the cursor reads them."""
        projection = {_field(table, name): 1 for name in columns} if columns else None
        cursor = self._collection(table).find(_criteria(table, where), projection)
        if order:
            cursor = cursor.sort([(_field(table, name), DESCENDING if down else ASCENDING) for name, down in order])
        if not distinct:
            documents = bounded(cursor, limit) if limit is not None else cursor
            return [self._row(table, document) for document in documents]
        found: dict[tuple[Any, ...], Row] = {}
        for document in cursor:
            row = self._row(table, document)
            if columns:  # not the key MongoDB returns with them
                row = {name: row.get(name) for name in columns}
            found.setdefault(tuple(sorted(row.items())), row)
            if limit is not None and len(found) == limit:
                break
        return list(found.values())

    def put(self, table: RowTable, row: Row, only_if: Sequence[Condition] = (), insert: bool = True) -> bool:
        """update_one on the key and ``only_if``, upserting when ``insert``."""
        document = self._document(table, row)
        changes = {name: value for name, value in document.items() if name != "_id"}
        try:
            result = self._collection(table).update_one(
                {"_id": document["_id"], **_criteria(table, only_if)}, {"$set": changes}, upsert=insert
            )
        except DuplicateKeyError:
            return False  # the row is there, and does not meet only_if
        return bool(result.matched_count or result.upserted_id is not None)

    def add(self, table: RowTable, rows: list[Row], replace: bool = False) -> None:
        """insert_many, unordered; a taken ``_id`` is the same row, written before. With ``replace``, the rows of
        those ``_id``s are deleted first (mongomock's bulk_write takes no pymongo 4.11 ReplaceOne)."""
        if not rows:
            return
        if replace:
            taken = [self._document(table, row)["_id"] for row in rows]
            self._collection(table).delete_many({"_id": {"$in": taken}})
        try:
            self._collection(table).insert_many([self._document(table, row) for row in rows], ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
                raise

    def delete(self, table: RowTable, where: Sequence[Condition]) -> None:
        """delete_many."""
        self._collection(table).delete_many(_criteria(table, where))

    def raise_mark(self, table: RowTable, row: Row, column: str, value: int, mark: Row) -> Row | None:
        """One find_one_and_update: ``$max`` on the column, ``$set`` the mark, the row's other columns on insert."""
        document = self._document(table, row)
        inserted = {name: v for name, v in document.items() if name not in ("_id", column, *mark)}
        before = self._collection(table).find_one_and_update(
            {"_id": document["_id"]},
            {"$max": {column: value}, "$set": mark, **({"$setOnInsert": inserted} if inserted else {})},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        return self._row(table, before) if before else None

    def head_seq(self, instance_id: str) -> int:
        """The highest seq the entries hold."""
        head = self._collections.scan_head(instance_id)
        return head.seq if head is not None else -1
