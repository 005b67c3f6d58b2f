"""Every reprocessing query reads an index: EXPLAIN on SQLite and PostgreSQL, index coverage on MongoDB (FerretDB)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pymongo import MongoClient, monitoring

from process_memory import create_app
from process_memory.config import Settings
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.sql import SQLHistoryStore
from process_memory.history.store import HistoryStore
from process_memory.memory import memory_index_of
from process_memory.memory.lineage_queries import EventQuery, ReaderQuery
from tests.memories import PROCESS, TABLES_BY_TAG, Scenario
from tests.services import FerretDBServer, PostgresServer


def _fill(store: HistoryStore, settings: Settings) -> Scenario:
    client = create_app(settings, history_store=store).test_client()
    scenario = Scenario()
    for iid, document in [*scenario.readers(), scenario.update_of_u1(), scenario.reprocess_of_a()]:
        assert client.post(f"/{iid}/commit", json=document).status_code == 201
    return scenario


def _every_query(store: HistoryStore, scenario: Scenario) -> None:
    """Ask each question the memory service asks its index."""
    index = memory_index_of(store)
    index.readers(ReaderQuery(TABLES_BY_TAG, ['"U1"', '"U2"'], None, 10))
    index.readers(ReaderQuery(TABLES_BY_TAG, None, scenario.a, 10))
    index.events(EventQuery(PROCESS, "2026-01-01T00:00:00.000000", "2026-12-31T00:00:00.000000", limit=10))
    index.events(EventQuery(PROCESS, "2026-01-01T00:00:00.000000", "2027", after=("2026-01-10T00:00:00.000000", "x")))
    index.latest_reprocesses([scenario.a, scenario.b])
    index.tag_tables()
    index.tag_tables(scenario.a[:4], 10)
    index.items([scenario.a], "instance_filter", ["usina"])
    index.items([scenario.a, scenario.b], "inputs")
    index.load_views([scenario.a, scenario.b])
    index.load_view(scenario.a)
    index.stale_views(10)


def _sql_plans(store: SQLHistoryStore, scenario: Scenario) -> list[tuple[str, str]]:
    """(statement, plan) of every statement the queries run."""
    captured: list[tuple[str, Any]] = []
    engine = store._connect()

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    _every_query(store, scenario)
    sa.event.remove(engine, "before_cursor_execute", capture)
    plans = []
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if not sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables would be scanned anyway
        for statement, parameters in captured:
            rows = conn.exec_driver_sql(f"{'EXPLAIN QUERY PLAN' if sqlite else 'EXPLAIN'} {statement}", parameters)
            plans.append((statement, "\n".join(str(row[-1] if sqlite else row[0]) for row in rows)))
    return plans


def _assert_indexed(plans: list[tuple[str, str]], uses_index: Callable[[str], bool]) -> None:
    assert len(plans) >= 9
    for statement, plan in plans:
        assert uses_index(plan), f"{statement}\n{plan}"


def test_each_reprocessing_query_uses_an_index_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    store = SQLHistoryStore(url)
    plans = _sql_plans(store, _fill(store, Settings(database_url=url)))
    _assert_indexed(
        plans,
        lambda plan: all(
            line.startswith("SEARCH") and "INDEX" in line for line in plan.splitlines() if "memory_" in line
        ),
    )


def test_each_reprocessing_query_uses_an_index_on_postgres(postgres: PostgresServer) -> None:
    store = SQLHistoryStore(postgres.url, table_prefix=f"t_{uuid.uuid4().hex[:12]}")
    try:
        plans = _sql_plans(store, _fill(store, Settings(database_url=postgres.url)))
        _assert_indexed(plans, lambda plan: "Seq Scan" not in plan and "Index" in plan)
    finally:
        store.tables.entries.metadata.drop_all(store._connect())


class _Finds(monitoring.CommandListener):
    """Records the filter and sort of every find on the memory collections."""

    def __init__(self) -> None:
        self.finds: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        for name in ("find", "findAndModify", "update", "delete"):
            if name in command and "_memory_" in str(command[name]):
                if name == "find":
                    self.finds.append((command[name], command.get("filter", {}), command.get("sort", {})))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _fields(criteria: Any) -> Iterator[str]:
    """The field names a filter names, through $or and $and."""
    for key, value in criteria.items():
        if key in ("$or", "$and"):
            for clause in value:
                yield from _fields(clause)
        else:
            yield key


@pytest.fixture
def mongo_store(ferretdb: FerretDBServer) -> Iterator[tuple[MongoHistoryStore, _Finds]]:
    finds = _Finds()
    store = MongoHistoryStore(
        ferretdb.uri,
        "pm_test",
        f"t_{uuid.uuid4().hex[:12]}",
        client_factory=lambda *args, **kwargs: MongoClient(*args, event_listeners=[finds], **kwargs),
    )
    yield store, finds
    database = store.database()
    for name in database.list_collection_names():
        if name.startswith(store.collection_name):
            database.drop_collection(name)
    store.close()


def test_each_reprocessing_query_names_only_indexed_fields_on_mongodb(
    mongo_store: tuple[MongoHistoryStore, _Finds], ferretdb: FerretDBServer
) -> None:
    store, finds = mongo_store
    settings = Settings(docdb_uri=ferretdb.uri, docdb_database_name="pm_test", docdb_collection=store.collection_name)
    scenario = _fill(store, settings)
    finds.finds.clear()
    _every_query(store, scenario)
    assert len(finds.finds) >= 9
    database = store.database()
    for collection, criteria, sort in finds.finds:
        indexes = [[field for field, _ in index["key"]] for index in database[collection].index_information().values()]
        named = set(_fields(criteria)) | set(sort)
        assert any(index[0] in named for index in indexes), (collection, criteria)  # an index can start the search
        covered = {field for index in indexes for field in index}
        assert named <= covered, (collection, criteria, sort, indexes)
