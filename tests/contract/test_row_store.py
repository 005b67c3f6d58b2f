"""The rows every history store offers its projections (history/rows.py), on every history backend: what each
operation finds, writes, refuses and leaves as it was."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from process_memory.entry import NewEntry
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.rows import After, AnyOf, Compare, In, RowStore, RowTable, StartsWith
from process_memory.history.service import HistoryService
from process_memory.history.sql import SQLHistoryStore
from process_memory.history.sql.rows import SQLRows
from process_memory.history.store import HistoryStore

PAIRS = RowTable("contract_pairs", ("group", "n"))
SINGLES = RowTable("contract_singles", ("name",))


@pytest.fixture
def rows(store: HistoryStore) -> RowStore:
    """The store's rows, with the two tables declared where a backend needs them declared."""
    if isinstance(store, SQLHistoryStore):
        sa.Table(
            f"{store.table_prefix}_contract_pairs",
            store.metadata,
            sa.Column("group", sa.String(64), primary_key=True),
            sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("label", sa.String(64)),
        )
        sa.Table(
            f"{store.table_prefix}_contract_singles",
            store.metadata,
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("level", sa.Integer),
            sa.Column("flag", sa.Boolean),
        )
        store.ensure_schema()
    return store.rows


def _pairs(rows: RowStore, *labels: tuple[str, int, str | None]) -> None:
    rows.add(PAIRS, [{"group": group, "n": n, "label": label} for group, n, label in labels])


def _keys(found: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(row["group"], row["n"]) for row in found]


def test_put_inserts_then_updates_the_row_of_its_key(rows: RowStore) -> None:
    assert rows.put(SINGLES, {"name": "a", "level": 1, "flag": True})
    assert rows.put(SINGLES, {"name": "a", "level": 2})  # the columns given; the others as they were
    assert rows.find(SINGLES, [Compare("name", "==", "a")]) == [{"name": "a", "level": 2, "flag": True}]


def test_put_only_if_writes_only_a_row_that_meets_its_conditions(rows: RowStore) -> None:
    rows.put(SINGLES, {"name": "a", "level": 1})
    assert not rows.put(SINGLES, {"name": "a", "level": 5}, [Compare("level", "==", 0)])
    assert not rows.put(SINGLES, {"name": "a", "level": 5}, [Compare("level", "==", 0)], insert=False)
    assert rows.put(SINGLES, {"name": "a", "level": 5}, [Compare("level", "==", 1)])
    assert not rows.put(SINGLES, {"name": "b", "level": 1}, [Compare("level", "==", 0)], insert=False)
    assert rows.put(SINGLES, {"name": "c", "level": 1}, [Compare("level", "==", -1)])  # none there: inserted
    found = rows.find(SINGLES, [], [("name", False)], columns=("name", "level"))
    assert found == [{"name": "a", "level": 5}, {"name": "c", "level": 1}]


def test_add_leaves_a_row_whose_key_is_taken_as_it_was(rows: RowStore) -> None:
    _pairs(rows, ("g", 1, "first"))
    _pairs(rows, ("g", 1, "again"), ("g", 2, "second"), ("g", 3, None), ("g", 2, "twice in one add"))
    rows.add(PAIRS, [])
    found = rows.find(PAIRS, [], [("n", False)])
    assert found == [
        {"group": "g", "n": 1, "label": "first"},
        {"group": "g", "n": 2, "label": "second"},
        {"group": "g", "n": 3, "label": None},
    ]


def test_add_replacing_overwrites_the_rows_whose_key_is_taken_and_inserts_the_others(rows: RowStore) -> None:
    _pairs(rows, ("g", 1, "first"), ("g", 2, "second"))
    rows.add(PAIRS, [{"group": "g", "n": 2, "label": "new"}, {"group": "h", "n": 2, "label": None}], replace=True)
    found = rows.find(PAIRS, [], [("group", False), ("n", False)])
    assert found == [
        {"group": "g", "n": 1, "label": "first"},
        {"group": "g", "n": 2, "label": "new"},
        {"group": "h", "n": 2, "label": None},
    ]
    rows.add(SINGLES, [{"name": "a", "level": 1, "flag": True}])
    rows.add(SINGLES, [{"name": "a", "level": 2, "flag": False}], replace=True)
    assert rows.find(SINGLES, []) == [{"name": "a", "level": 2, "flag": False}]


def test_find_holds_every_condition(rows: RowStore) -> None:
    _pairs(rows, ("a", 1, "x"), ("a", 2, "y"), ("a", 3, "x"), ("b", 1, "y"), ("b%", 2, "x"), ("B", 3, "x"))
    order = [("group", False), ("n", False)]
    assert _keys(rows.find(PAIRS, [Compare("n", "<", 2)], order)) == [("a", 1), ("b", 1)]
    assert _keys(rows.find(PAIRS, [Compare("n", "<=", 1), Compare("group", "==", "a")], order)) == [("a", 1)]
    assert _keys(rows.find(PAIRS, [Compare("n", ">", 2)], order)) == [("B", 3), ("a", 3)]
    assert _keys(rows.find(PAIRS, [Compare("n", ">=", 2), Compare("n", "<=", 2)], order)) == [("a", 2), ("b%", 2)]
    assert _keys(rows.find(PAIRS, [In("label", ["y"])], order)) == [("a", 2), ("b", 1)]
    assert _keys(rows.find(PAIRS, [In("label", [])], order)) == []
    # Exact and case-sensitive, whatever the prefix holds.
    assert _keys(rows.find(PAIRS, [StartsWith("group", "b")], order)) == [("b", 1), ("b%", 2)]
    assert _keys(rows.find(PAIRS, [StartsWith("group", "b%")], order)) == [("b%", 2)]
    assert _keys(rows.find(PAIRS, [StartsWith("group", "")], order)) == _keys(rows.find(PAIRS, [], order))
    assert _keys(rows.find(PAIRS, [After(("group", "n"), ("a", 2))], order)) == [("a", 3), ("b", 1), ("b%", 2)]
    either = AnyOf([[Compare("group", "==", "a"), Compare("n", "==", 2)], [Compare("label", "==", "y")]])
    assert _keys(rows.find(PAIRS, [either, Compare("n", "<", 3)], order)) == [("a", 2), ("b", 1)]


def test_find_orders_limits_picks_columns_and_skips_repeats(rows: RowStore) -> None:
    _pairs(rows, ("a", 1, "x"), ("a", 2, "y"), ("b", 1, "x"), ("b", 2, "x"))
    down = rows.find(PAIRS, [], [("n", True), ("group", False)], limit=3)
    assert _keys(down) == [("a", 2), ("b", 2), ("a", 1)]
    assert rows.find(PAIRS, [], [("group", True), ("n", True)], limit=1, columns=("label",)) == [{"label": "x"}]
    labels = rows.find(PAIRS, [], [("label", False)], columns=("label",), distinct=True)
    assert labels == [{"label": "x"}, {"label": "y"}]
    assert rows.find(PAIRS, [], [("label", False)], limit=1, columns=("label",), distinct=True) == [{"label": "x"}]


def test_delete_removes_only_the_rows_it_names(rows: RowStore) -> None:
    _pairs(rows, ("a", 1, "x"), ("a", 2, "y"), ("b", 1, "x"))
    rows.delete(PAIRS, [Compare("group", "==", "a"), Compare("n", "<", 2)])
    assert _keys(rows.find(PAIRS, [], [("group", False), ("n", False)])) == [("a", 2), ("b", 1)]


def test_raise_mark_raises_never_lowers_and_says_what_was_there(rows: RowStore) -> None:
    assert rows.raise_mark(SINGLES, {"name": "a", "flag": False}, "level", 3, {"flag": True}) is None
    assert rows.find(SINGLES, []) == [{"name": "a", "level": 3, "flag": True}]
    before = rows.raise_mark(SINGLES, {"name": "a"}, "level", 2, {"flag": True})
    assert before == {"name": "a", "level": 3, "flag": True}
    rows.put(SINGLES, {"name": "a", "flag": False})
    assert rows.raise_mark(SINGLES, {"name": "a"}, "level", 7, {"flag": True}) == {
        "name": "a",
        "level": 3,
        "flag": False,
    }
    assert rows.find(SINGLES, []) == [{"name": "a", "level": 7, "flag": True}]


def test_a_transaction_is_all_or_nothing_where_the_store_has_them(rows: RowStore, store: HistoryStore) -> None:
    assert rows.transactional == isinstance(store, SQLHistoryStore)
    with pytest.raises(RuntimeError), rows.transaction() as inside:
        inside.put(SINGLES, {"name": "a", "level": 1})
        assert inside.find(SINGLES, [], columns=("name",)) == [{"name": "a"}]  # its own writes, seen
        raise RuntimeError("stop")
    kept = rows.find(SINGLES, [], columns=("name",))
    assert kept == ([] if rows.transactional else [{"name": "a"}])


def test_the_head_is_the_logs(service: HistoryService, iid: str) -> None:
    service.appender.append_entries(iid, [NewEntry(type="t", data=n) for n in range(3)])
    assert service.store.rows.head_seq(iid) == 2 and service.store.rows.head_seq(f"{iid}-none") == -1


def test_a_row_is_stored_under_its_key(rows: RowStore, store: HistoryStore) -> None:
    """MongoDB: one document, ``_id`` the key (one column) or the key's columns joined by ":"; SQL: one row."""
    _pairs(rows, ("g", 1, "x"))
    rows.put(SINGLES, {"name": "a", "level": 1})
    if isinstance(store, MongoHistoryStore):
        database = store.database()
        pairs = database[f"{store.collection_name}_contract_pairs"].find_one()
        assert pairs == {"_id": "g:1", "group": "g", "n": 1, "label": "x"}
        assert database[f"{store.collection_name}_contract_singles"].find_one() == {"_id": "a", "level": 1}
        return
    assert isinstance(store, SQLHistoryStore)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(store.metadata.tables[f"{store.table_prefix}_contract_pairs"])).all() == [
            ("g", 1, "x")
        ]
        singles = store.metadata.tables[f"{store.table_prefix}_contract_singles"]
        assert conn.execute(sa.select(singles)).all() == [("a", 1, None)]


def _synchronous_commit(rows: RowStore) -> str:
    """PostgreSQL's setting in the transaction ``rows`` are bound to."""
    assert isinstance(rows, SQLRows) and rows._conn is not None
    return str(rows._conn.execute(sa.text("SHOW synchronous_commit")).scalar())


def test_a_transaction_not_durable_commits_as_one_and_waiting_for_the_flush_returns_once_it_is_on_disk(
    rows: RowStore, store: HistoryStore
) -> None:
    postgres = isinstance(store, SQLHistoryStore) and store.engine.dialect == "postgresql"
    with rows.transaction(durable=False) as inside:
        inside.put(SINGLES, {"name": "a", "level": 1})
        inside.put(SINGLES, {"name": "b", "level": 2})
        if postgres:
            assert _synchronous_commit(inside) == "off"  # its commit does not wait for the flush
    with rows.transaction() as inside:
        if postgres:
            assert _synchronous_commit(inside) == "on"  # set for that transaction alone
    if postgres:
        assert isinstance(store, SQLHistoryStore)
        with store.engine.connect() as conn:
            written = conn.execute(sa.text("SELECT pg_current_wal_insert_lsn()")).scalar()
    rows.wait_until_durable()
    if postgres:
        with store.engine.connect() as conn:
            flushed = sa.text("SELECT pg_current_wal_flush_lsn() >= CAST(:written AS pg_lsn)")
            assert conn.execute(flushed, {"written": written}).scalar()
    assert rows.find(SINGLES, [], order=[("name", False)], columns=("name",)) == [{"name": "a"}, {"name": "b"}]
