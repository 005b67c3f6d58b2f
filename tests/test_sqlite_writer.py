"""SQLite's one writer: appends queued in a process share a commit, and the file lock holds other processes off."""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from process_memory.entry import NewEntry
from process_memory.exceptions import StoreUnavailable
from process_memory.history.service import HistoryService
from process_memory.history.sql import SQLHistoryStore
from process_memory.sqlite_writer import GroupCommit, SQLiteWriterLock

#: Tries the writer lock file without waiting, from another process, and says whether it was free.
_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def _lock_seen_from_another_process(path: Path) -> str:
    return subprocess.run([sys.executable, "-c", _TRY_LOCK, str(path)], capture_output=True, text=True).stdout.strip()


def _store(tmp_path: Path) -> tuple[SQLHistoryStore, HistoryService]:
    store = SQLHistoryStore(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    store.ensure_schema()
    return store, HistoryService(store, max_inline_data=1_000_000)


def test_appends_queued_in_one_process_share_commits_and_stay_gapless(tmp_path: Path) -> None:
    store, service = _store(tmp_path)
    commits: list[int] = []
    sa.event.listen(store._connect(), "commit", lambda conn: commits.append(1))
    instances = [str(uuid.uuid4()) for _ in range(3)]

    def append(n: int) -> None:
        service.appender.append_entry(instances[n % 3], NewEntry(type="t", data={"n": n}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(240)))
    for iid in instances:
        assert [e.seq for e in service.copier.export_entries(iid)] == list(range(80))
        assert service.verifier.verify(iid).ok is True
    assert len(commits) < 240  # some commits carried several appends


def test_an_open_group_holds_the_file_lock_against_other_processes(tmp_path: Path) -> None:
    store, service = _store(tmp_path)
    iid = str(uuid.uuid4())
    lock_file = tmp_path / "h.sqlite3.writer-lock"
    with store.entries.appending(iid):
        service.appender.append_entries(iid, [NewEntry(type="t", data=0)])  # nested: joins the open group
        assert _lock_seen_from_another_process(lock_file) == "held"
    assert _lock_seen_from_another_process(lock_file) == "free"
    assert service.reader.head(iid).seq == 0


class _CommitFails:
    """A connection whose commit fails as a full disk would."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def commit(self) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))


def test_a_failed_commit_fails_its_members_and_lets_the_next_writer_in(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    lock = SQLiteWriterLock.of(tmp_path / "g.sqlite3")
    failing = GroupCommit(lock, lambda: _CommitFails(engine.connect()))
    with pytest.raises(StoreUnavailable):
        with failing.member() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    working = GroupCommit(lock, engine.connect)
    with working.member() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t").scalars().all() == [2]
