"""What the file and SQL state stores leave on disk and in tables, which operators and `state init` rely on."""

from __future__ import annotations

import os
import time
from pathlib import Path

import sqlalchemy as sa

from process_memory.stores import FileStore, SQLStore
from process_memory.stores.file import _TEMP_PREFIX, STALE_TEMP_SECONDS
from tests.conftest import FakeClock


def test_the_sql_state_table_has_the_documented_layout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    store = SQLStore(url)
    store.ensure_schema()
    inspector = sa.inspect(sa.create_engine(url))
    assert inspector.get_table_names() == ["process_memory_state", "process_memory_state_schema_version"]
    columns = {c["name"]: (str(c["type"]), c["nullable"]) for c in inspector.get_columns("process_memory_state")}
    assert columns == {
        "namespace": ("VARCHAR(512)", False),
        "key": ("VARCHAR(1024)", False),
        "value": ("BLOB", False),
        "version": ("VARCHAR(32)", False),
        "expires_at": ("FLOAT", True),
    }
    assert inspector.get_pk_constraint("process_memory_state")["constrained_columns"] == ["namespace", "key"]
    assert [(i["name"], i["column_names"]) for i in inspector.get_indexes("process_memory_state")] == [
        ("process_memory_state_expires_at", ["expires_at"])
    ]


def test_sql_rows_are_keyed_by_namespace_path(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    root = SQLStore(url, table="st")
    root.set("k", b"root")
    root.with_namespace("a").set("k", b"a")
    root.with_namespace("a").with_namespace("b").set("k", b"a/b")
    root.with_namespace("a0").set("k", b"a0")  # sorts right after "a/…": a range must not reach it
    with sa.create_engine(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT namespace, key, value FROM st ORDER BY namespace")).all()
    assert [tuple(row) for row in rows] == [
        ("", "k", b"root"),
        ("a", "k", b"a"),
        ("a/b", "k", b"a/b"),
        ("a0", "k", b"a0"),
    ]
    root.with_namespace("a").delete_all()
    assert [root.get("k"), root.with_namespace("a0").get("k")] == [b"root", b"a0"]


def test_reading_an_expired_sql_value_removes_its_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    clock = FakeClock()
    store = SQLStore(url, table="st", clock=clock)
    store.set("k", b"v", expires_in=5)
    store.set("kept", b"v")
    clock.advance(5)
    assert store.get("k") is None
    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.text("SELECT key FROM st")).scalars().all() == ["kept"]


def test_the_file_sweep_removes_temporary_files_of_dead_writers_only(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "state", clock=FakeClock())
    store.set("k", b"v")
    keys = next((tmp_path / "state").rglob("keys"))
    stale = [keys / f"{_TEMP_PREFIX}dead{n}" for n in range(2)]
    fresh = keys / f"{_TEMP_PREFIX}writing"
    for path in (*stale, fresh):
        path.write_bytes(b"half a value")
    old = time.time() - STALE_TEMP_SECONDS - 60
    for path in stale:
        os.utime(path, (old, old))
    store.delete_expired()
    assert [path.exists() for path in (*stale, fresh)] == [False, False, True]
    assert store.get("k") == b"v"


def test_sweeping_a_namespace_with_nothing_written_removes_nothing(tmp_path: Path) -> None:
    assert FileStore(tmp_path / "state").with_namespace("never").delete_expired() == 0
