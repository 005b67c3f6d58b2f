"""What only the SQL backend does: SQLite's locking and WAL, PostgreSQL's JSONB copies, schema commands."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from psycopg.conninfo import conninfo_to_dict

from process_memory import create_app
from process_memory.config import Settings
from process_memory.entry import NewEntry
from process_memory.exceptions import StoreUnavailable
from process_memory.history.queries import HistoryQuery
from process_memory.history.service import HistoryService
from process_memory.history.sql import SQLHistoryStore
from process_memory.history.sql.notify import listener_conninfo
from process_memory.services import services
from tests.services import PostgresServer, wait_until

#: An instance of the release database in tests/fixtures/release_1_0 (eight entries, none with recorded_by).
OLD_RUN = "6a1f2f0e-31c4-4d7c-9a55-6f1f6c1f0d10"
API = "/api/v1/instances"


def test_a_held_sqlite_lock_gives_503_then_the_append_succeeds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    store = SQLHistoryStore(url, timeout_ms=300)
    client = create_app(Settings(database_url=url), history_store=store).test_client()
    iid = str(uuid.uuid4())
    first = client.post(f"{API}/{iid}/history", json={"type": "t", "data": 0}).get_json()

    other_process = sqlite3.connect(tmp_path / "h.sqlite3", isolation_level=None)
    other_process.execute("BEGIN EXCLUSIVE")
    try:
        locked = client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1})
        assert locked.status_code == 503 and locked.headers["Retry-After"].isdigit()
        assert "locked" not in locked.get_data(as_text=True)  # the driver's words stay inside
    finally:
        other_process.execute("ROLLBACK")
        other_process.close()
    assert client.post(f"{API}/{iid}/history", json={"type": "t", "data": 1}).get_json()["seq"] == 1
    assert client.get(f"{API}/{iid}/history/0").get_json() == first


def _nullable_columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table) if column["nullable"]}


def test_only_the_record_s_nullable_fields_may_be_null(tmp_path: Path, postgres: PostgresServer) -> None:
    # SQLite lets a primary-key column hold NULL unless it says NOT NULL; the key must say it.
    expected = {"occurred_at", "recorded_by", "prev_hash", "data_json", "data_blob", "redacted_json"}
    sqlite_store = SQLHistoryStore(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    sqlite_store.ensure_schema()
    assert _nullable_columns(sqlite_store._connect(), "process_memory_entries") == expected
    prefix = f"t_{uuid.uuid4().hex[:12]}"
    postgres_store = SQLHistoryStore(postgres.url, table_prefix=prefix)
    postgres_store.ensure_schema()
    assert _nullable_columns(postgres_store._connect(), f"{prefix}_entries") == expected | {
        "data",
        "metadata",
        "redacted",
    }
    postgres_store.tables.entries.metadata.drop_all(postgres_store._connect())


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = SQLHistoryStore(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    store.ensure_schema()
    with store._connect().connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_postgres_keeps_queryable_jsonb_copies(postgres: PostgresServer) -> None:
    prefix = f"t_{uuid.uuid4().hex[:12]}"
    store = SQLHistoryStore(postgres.url, table_prefix=prefix)
    client = create_app(Settings(database_url=postgres.url), history_store=store).test_client()
    iid = str(uuid.uuid4())
    client.post(
        f"{API}/{iid}/history",
        json={"type": "t", "data": {"rows": 120, "big": 2**70}, "metadata": {"processId": "p-7"}},
    )
    client.post(f"{API}/{iid}/history", json={"type": "t", "data": {"text": "nul \u0000 inside"}})
    with store._connect().connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT data->>'rows', (data->>'big')::numeric, metadata->>'processId', data IS NULL "
            f"FROM {prefix}_entries WHERE instance_id = %s ORDER BY seq",
            (iid,),
        ).all()
    assert rows[0] == ("120", 2**70, "p-7", False)
    assert rows[1][3] is True  # JSONB cannot hold NUL: the text column alone keeps it
    assert client.get(f"{API}/{iid}/history/1").get_json()["data"] == {"text": "nul \u0000 inside"}
    store.tables.entries.metadata.drop_all(store._connect())


def test_history_init_creates_the_schema_ahead_of_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    result = create_app(Settings(database_url=url)).test_cli_runner().invoke(args=["history", "init"])
    assert result.exit_code == 0 and "history schema ready" in result.output
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    memory = {f"process_memory_memory_{part}" for part in ("views", "reads", "read_tables", "items")}
    history = {f"process_memory_{part}" for part in ("entries", "instances", "blobs", "trees")}
    anchors = {
        f"process_memory_anchor_{part}" for part in ("leaves", "instances", "checkpoints", "witnesses", "leases")
    }
    assert tables == history | memory | anchors | {"process_memory_schema_version"}


def test_history_gc_removes_only_unreferenced_old_blobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    app = create_app(Settings(database_url=url, max_inline_data=100))
    client, store = app.test_client(), services(app).history.store
    client.post(f"{API}/kept/history", json={"type": "t", "data": "k" * 1000})
    orphan = store.blobs.put_blob("gone", str(uuid.uuid4()), b"left behind")
    runner = app.test_cli_runner()
    assert "deleted 0 " in runner.invoke(args=["history", "gc"]).output  # too young to judge
    blobs = store.tables.blobs
    with store._connect().begin() as conn:
        conn.execute(blobs.update().values(created_at=sa.func.datetime("now", "-2 hours")))
    assert "deleted 1 " in runner.invoke(args=["history", "gc"]).output
    assert client.get(f"{API}/kept/head").get_json()["data"] == "k" * 1000
    assert client.get(f"{API}/kept/verify").get_json()["ok"] is True
    try:
        store.blobs.get_blob(orphan)
        raise AssertionError("the orphan is still there")
    except KeyError:
        pass


def _search_plan(store: SQLHistoryStore) -> str:
    store.ensure_schema()
    query = (
        f"SELECT seq FROM {store.tables.entries.name} WHERE type = 't' AND recorded_at >= '2026' "
        f"ORDER BY recorded_at, instance_id, seq LIMIT 10"
    )
    with store._connect().connect() as conn:
        if conn.dialect.name == "sqlite":
            return " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table would be scanned anyway
        return " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN {query}"))


def test_search_across_instances_reads_an_index_on_sqlite(tmp_path: Path) -> None:
    plan = _search_plan(SQLHistoryStore(f"sqlite:///{tmp_path / 'h.sqlite3'}"))
    assert "process_memory_entries_type_recorded_at" in plan and "TEMP B-TREE" not in plan


def test_search_across_instances_reads_an_index_on_postgres(postgres: PostgresServer) -> None:
    store = SQLHistoryStore(postgres.url, table_prefix=f"t_{uuid.uuid4().hex[:12]}")
    plan = _search_plan(store)
    assert "_entries_type_recorded_at" in plan and "Seq Scan" not in plan
    store.tables.entries.metadata.drop_all(store._connect())


def test_a_table_from_before_recorded_by_gets_the_column_and_its_entries_still_verify(tmp_path: Path) -> None:
    # The release before Alembic's database (tests/test_migrations.py), as a release before recorded_by left it.
    shutil.copy(Path(__file__).parent / "fixtures" / "release_1_0" / "history.sqlite3", tmp_path / "h.sqlite3")
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE process_memory_entries DROP COLUMN recorded_by"))
    upgraded = HistoryService(SQLHistoryStore(url), 4096, recorder=lambda: "ci")
    upgraded.appender.append_entry(OLD_RUN, NewEntry(type="t", data={"n": 2}))
    assert "recorded_by" in {column["name"] for column in sa.inspect(engine).get_columns("process_memory_entries")}
    recorded_by = [entry.recorded_by for entry in upgraded.reader.read_history(OLD_RUN, HistoryQuery()).items]
    assert recorded_by == [None] * 8 + ["ci"]
    assert upgraded.verifier.verify(OLD_RUN).ok


def test_a_notification_wakes_a_reader_served_by_another_host(
    postgres: PostgresServer,
) -> None:
    # Two services without host wake-ups stand for two hosts; with polling out of reach, only NOTIFY can answer.
    prefix = f"t_{uuid.uuid4().hex[:12]}"
    reader_host = HistoryService(SQLHistoryStore(postgres.url, table_prefix=prefix), 1_000_000, tail_poll_seconds=3600)
    writer_host = HistoryService(SQLHistoryStore(postgres.url, table_prefix=prefix), 1_000_000)
    writer_host.store.ensure_schema()
    iid = str(uuid.uuid4())
    writer_host.appender.append_entry(iid, NewEntry(type="t", data=0))
    results: list[Any] = []
    reader = threading.Thread(
        target=lambda: results.append(reader_host.reader.read_history(iid, HistoryQuery(after=0, wait=20)))
    )
    reader.start()
    wait_until(lambda: reader_host.notifier.waiting == 1, 10, "the reader waiting")
    writer_host.appender.append_entry(iid, NewEntry(type="t", data=1))
    reader.join(timeout=10)  # the wait itself is 20 s
    assert not reader.is_alive() and [reader_host.reader.data_of(entry) for entry in results[0].items] == [1]
    writer_host.store.tables.entries.metadata.drop_all(writer_host.store._connect())


def test_a_database_error_never_carries_the_values_bound(tmp_path: Path) -> None:
    """A traceback of a failed statement (which gunicorn may log) shows the SQL, never a payload bound to it."""
    store = SQLHistoryStore(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    with pytest.raises(sa.exc.DBAPIError) as failed, store.engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "payload-marker-7f3a"})
    assert "no_such_table" in str(failed.value) and "payload-marker-7f3a" not in str(failed.value)
    store.close()


def test_a_connection_dropped_under_an_append_is_a_503_and_commits_nothing(postgres: PostgresServer) -> None:
    # As in a failover: the database ends the writer's connection between its reads and its insert.
    store = SQLHistoryStore(postgres.url, table_prefix=f"t_{uuid.uuid4().hex[:12]}")
    store.ensure_schema()
    history = HistoryService(store, 1_000_000)
    iid = str(uuid.uuid4())
    history.appender.append_entry(iid, NewEntry(type="t", data=0))
    with pytest.raises(StoreUnavailable):
        with store.entries.appending(iid):
            store.entries.chain_head(iid)
            postgres.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'pm_test' AND pid <> pg_backend_pid()"
            )
            store.entries.chain_head(iid)
    assert [entry.seq for entry in history.store.entries.iter_chain(iid)] == [0]
    assert history.appender.append_entry(iid, NewEntry(type="t", data=1))[0].seq == 1  # the pool recovers


def test_the_tail_s_listener_connects_as_the_store_does_to_several_hosts() -> None:
    url = sa.make_url(
        "postgresql+psycopg://app:s%40cret@/memory?host=10.0.2.11:5432&host=10.0.2.12:5433"
        "&target_session_attrs=read-write"
    )
    assert conninfo_to_dict(listener_conninfo(url)) == {
        "host": "10.0.2.11,10.0.2.12",
        "port": "5432,5433",
        "dbname": "memory",
        "user": "app",
        "password": "s@cret",
        "target_session_attrs": "read-write",
    }
    one_host = sa.make_url("postgresql+psycopg://app@db.internal:6432/memory")
    assert conninfo_to_dict(listener_conninfo(one_host)) == {
        "host": "db.internal",
        "port": "6432",
        "dbname": "memory",
        "user": "app",
    }


def test_behind_a_transaction_pooler_the_tail_listens_only_on_its_own_url(postgres: PostgresServer) -> None:
    # A LISTEN through transaction pooling would land on whichever server connection the pooler lends next.
    prefix = f"t_{uuid.uuid4().hex[:12]}"
    direct = SQLHistoryStore(postgres.url, table_prefix=prefix)
    pooled = SQLHistoryStore(postgres.url, table_prefix=prefix, transaction_pooler=True)
    past_the_pooler = SQLHistoryStore(
        postgres.url, table_prefix=prefix, transaction_pooler=True, listen_url=postgres.url
    )
    assert direct.entries.listen_for_appends(lambda: None) is True
    assert pooled.entries.listen_for_appends(lambda: None) is False  # its readers poll instead
    assert past_the_pooler.entries.listen_for_appends(lambda: None) is True
