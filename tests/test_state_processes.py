"""State stores shared by processes: no lost update under compare-and-set, no torn value after a crash."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from process_memory.config import Settings
from process_memory.registry import STATE_STORES
from process_memory.stores import StateStore, VersionConflict
from tests.services import wait_until

SHARED_BACKENDS = ["file", "sqlite", "postgresql", "redis"]


@pytest.fixture(params=SHARED_BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """How a child process opens the same store: backend name and where it lives."""
    name = request.param
    if name == "file":
        spec = {"state_backend": "file", "state_file_dir": str(tmp_path / "state")}
    elif name == "sqlite":
        spec = {"state_backend": "sql", "state_sql_url": f"sqlite:///{tmp_path / 'state.sqlite3'}"}
    elif name == "postgresql":
        spec = {
            "state_backend": "sql",
            "state_sql_url": request.getfixturevalue("postgres").url,
            "state_sql_table": f"state_{uuid.uuid4().hex[:12]}",
        }
    else:
        spec = {"state_backend": "redis", "state_redis_url": request.getfixturevalue("redis_server").url}
    yield spec
    store = _made(spec)
    store.delete_all()
    store.close()


def _made(spec: dict[str, Any]) -> StateStore:
    settings = Settings(**spec)
    return STATE_STORES.create(settings.state_backend, settings)


def _namespace(spec: dict[str, Any], namespace: str) -> StateStore:
    return _made(spec).with_namespace(namespace)


def _increment(spec: dict[str, Any], namespace: str, times: int, start: Any) -> int:
    """Add one to the counter ``times`` times by compare-and-set; return how many conflicts were retried."""
    store, conflicts = _namespace(spec, namespace), 0
    store.exists("warm-up")  # connect before the race starts
    start.wait(timeout=60)  # every process begins at once, so their writes really interleave
    for _ in range(times):
        while True:
            current = store.get_versioned("counter")
            try:
                if current is None:
                    store.set("counter", b"1", if_absent=True)
                else:
                    store.set("counter", str(int(current[0]) + 1).encode(), if_version=current[1])
                break
            except VersionConflict:
                conflicts += 1
    return conflicts


def test_compare_and_set_loses_no_update_across_processes(location: dict[str, Any]) -> None:
    namespace, processes, times = f"cas{uuid.uuid4().hex[:8]}", 4, 60
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(processes) as pool:
        start = manager.Barrier(processes)
        conflicts = pool.starmap(_increment, [(location, namespace, times, start)] * processes)
    assert int(_namespace(location, namespace).get("counter")) == processes * times
    # Not a speed claim: only that the processes really did overlap, so the check above meant something.
    assert sum(conflicts) > 0


def _value(n: int) -> bytes:
    """A value that proves itself whole: a SHA-256 of the rest, then about 300 KB of payload."""
    payload = f"{n}:".encode() + os.urandom(150_000).hex().encode()
    return hashlib.sha256(payload).hexdigest().encode() + payload


def _write_forever(spec: dict[str, Any], namespace: str, written: Any) -> None:
    store = _namespace(spec, namespace)
    n = 0
    while True:
        n += 1
        store.set("value", _value(n))
        written.value = n


@pytest.mark.parametrize("location", ["file", "sqlite", "postgresql"], indirect=True)
def test_a_writer_killed_mid_write_leaves_a_whole_value(location: dict[str, Any]) -> None:
    namespace = f"kill{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    for round_no in range(5):
        # No lock: a writer killed while holding the Value's lock would leave every later read waiting forever.
        written = context.Value("i", 0, lock=False)
        writer = context.Process(target=_write_forever, args=(location, namespace, written))
        writer.start()
        wait_until(lambda written=written, n=round_no: written.value >= 3 + n, 60, "the writer's first writes")
        os.kill(writer.pid, signal.SIGKILL)  # almost surely in the middle of a write
        writer.join()
        value = _namespace(location, namespace).get("value")
        assert value is not None
        digest, payload = value[:64], value[64:]
        assert hashlib.sha256(payload).hexdigest().encode() == digest, "a torn value was left behind"
        assert int(payload.split(b":")[0]) >= written.value  # the last acknowledged write or a newer one
