"""A PostgreSQL failover under append load (issue 31, second shape): the primary killed, its standby promoted,
and the service following through libpq's multi-host connection string (``?host=a:5432&host=b:5432&
target_session_attrs=read-write``) without a restart.

The primary (127.0.0.4) streams to a standby (127.0.0.5) made by pg_basebackup. Before the primary is killed the
stream is cut, as a slow or broken link would leave it: the standby is behind. With synchronous replication
every acknowledged append survives the failover anyway (commits waited instead of being acknowledged): the test
asserts that none is lost, that clients saw nothing but 503s with ``Retry-After`` meanwhile, and that the
history is gapless and verifies. With asynchronous replication the appends the primary acknowledged while the
stream was cut die with it: the test asserts that they are lost, which is why docs/deployment.md asks for
synchronous replication for audit history. Both write their figures
(downtime, losses, the errors seen) to ``.cache/artifacts/failover.json``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.services import (
    ROOT,
    GunicornServer,
    PostgresServer,
    postgres_available,
    threads_at_work,
    unavailable,
    wait_until,
)
from tests.test_gunicorn import assert_complete_chain, read_all

ARTIFACT = ROOT / ".cache" / "artifacts" / "failover.json"
WRITERS = 8


@dataclass
class Load:
    """What the writers saw: acknowledged ids with the time of each answer, and every refusal."""

    acknowledged: dict[str, float] = field(default_factory=dict)
    refusals: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged_since(self, moment: float) -> int:
        """How many appends were acknowledged after ``moment``."""
        with self.lock:
            return sum(1 for at in self.acknowledged.values() if at > moment)


def _append_until_stored(base: str, iid: str, load: Load, stop: threading.Event) -> None:
    """Append one entry, retrying with its id until it is stored; record each refusal as what the client saw."""
    body = {"type": "w", "id": str(uuid.uuid4()), "data": {"pad": "z" * 200}}
    while not stop.is_set():
        try:
            answer = requests.post(f"{base}/api/v1/instances/{iid}/history", json=body, timeout=30)
        except requests.ConnectionError:
            with load.lock:
                load.refusals["connection error"] += 1
            continue
        if answer.status_code in (200, 201):
            with load.lock:
                load.acknowledged[body["id"]] = time.monotonic()
            return
        retry_after = " with Retry-After" if answer.headers.get("Retry-After") else " without Retry-After"
        with load.lock:
            load.refusals[f"{answer.status_code}{retry_after}"] += 1
        time.sleep(0.05)  # a client's back-off between retries, not a wait for something to happen


@contextmanager
def appending(base: str, iid: str) -> Iterator[Load]:
    """WRITERS threads appending until the block ends."""
    load = Load()

    def keep_appending(stop: threading.Event) -> None:
        while not stop.is_set():
            _append_until_stored(base, iid, load, stop)

    with threads_at_work(keep_appending, WRITERS):
        yield load


@contextmanager
def replicated_pair(synchronous: bool) -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """A primary and a streaming standby; synchronous: every commit waits until the standby has flushed it."""
    if reason := postgres_available():
        unavailable(reason)
    primary = PostgresServer(address="127.0.0.4")
    primary.create()
    standby = None
    try:
        standby = primary.create_standby("127.0.0.5")
        if synchronous:  # set on the primary alone, once its standby streams: the promoted one commits alone
            primary.query("ALTER SYSTEM SET synchronous_standby_names = 'standby'")
            primary.query("SELECT pg_reload_conf()")
        wanted = "sync" if synchronous else "async"
        streaming = lambda: primary.query("SELECT sync_state FROM pg_stat_replication") == [(wanted,)]  # noqa: E731
        wait_until(streaming, 30, f"the standby streaming, {wanted}")
        yield primary, standby
    finally:
        primary.destroy()
        if standby is not None:
            standby.destroy()


@pytest.mark.parametrize("replication", ["synchronous", "asynchronous"])
def test_the_service_follows_a_promoted_standby(replication: str, tmp_path: Path) -> None:
    with replicated_pair(replication == "synchronous") as (primary, standby):
        hosts = f"host={primary.address}:{primary.port}&host={standby.address}:{standby.port}"
        url = f"postgresql+psycopg://postgres@/pm_test?{hosts}&target_session_attrs=read-write"
        gunicorn = GunicornServer({"PROCESS_MEMORY_DATABASE_URL": url}, workers=2, cwd=tmp_path, args=())
        gunicorn.start()
        try:
            iid = str(uuid.uuid4())
            with appending(gunicorn.url, iid) as load:
                wait_until(lambda: load.acknowledged_since(0) >= 100, 120, "100 appends before the failover")
                cut_at = _cut_the_stream(primary, standby, load, replication)
                killed_at = time.monotonic()
                primary.stop()  # immediate: as a crash
                standby.promote()
                promoted_at = time.monotonic()
                wait_until(lambda: load.acknowledged_since(promoted_at) >= 100, 120, "100 appends after it")
            stored = {entry["id"] for entry in read_all(gunicorn.url, iid)}
            lost = set(load.acknowledged) - stored
            # Whatever survived is one gapless chain that verifies, each id once, the lost ones aside.
            assert_complete_chain(gunicorn.url, iid, set(load.acknowledged) - lost)
        finally:
            gunicorn.stop()
    acknowledged_while_cut = load.acknowledged_since(cut_at) - load.acknowledged_since(killed_at)
    figures = _figures(load, killed_at, promoted_at)
    _record(replication, figures | {"acknowledged_while_cut": acknowledged_while_cut, "lost_acknowledged": len(lost)})
    assert set(load.refusals) <= {"503 with Retry-After"}, load.refusals
    assert load.refusals, "no client saw the failover: the primary was not the one serving"
    if replication == "synchronous":
        assert lost == set()
    else:  # what the primary acknowledged while nothing streamed died with it
        assert len(lost) >= acknowledged_while_cut - WRITERS > 0


def _cut_the_stream(primary: PostgresServer, standby: PostgresServer, load: Load, replication: str) -> float:
    """Stop the standby receiving, as a broken link would, and return when: it forgets where its primary is,
    which ends its stream. Under asynchronous replication the primary goes on acknowledging (wait for 30 more);
    under synchronous, every commit waits for the standby instead."""
    standby.query("ALTER SYSTEM SET primary_conninfo = ''")
    standby.query("SELECT pg_reload_conf()")
    wait_until(lambda: primary.query("SELECT count(*) FROM pg_stat_replication") == [(0,)], 30, "the stream ended")
    cut_at = time.monotonic()
    if replication == "synchronous":
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
        wait_until(lambda: primary.query(waiting)[0][0] >= 1, 30, "commits waiting for the standby")
    else:
        wait_until(lambda: load.acknowledged_since(cut_at) >= 30, 60, "30 appends acknowledged with no standby")
    return cut_at


def _figures(load: Load, killed_at: float, promoted_at: float) -> dict[str, Any]:
    with load.lock:
        answered = sorted(load.acknowledged.values())
    # The time without service: the longest stretch without an acknowledged append once the primary was killed
    # (appends it committed just before may still be answered after ``killed_at``).
    since_kill = [killed_at] + [at for at in answered if at > killed_at]
    return {
        "acknowledged": len(answered),
        "acknowledged_before_the_kill": sum(1 for at in answered if at <= killed_at),
        "no_append_acknowledged_for_ms": round(max(b - a for a, b in zip(since_kill, since_kill[1:])) * 1000, 1),
        "promotion_took_ms": round((promoted_at - killed_at) * 1000, 1),
        "refusals_seen": dict(load.refusals),
    }


def _record(replication: str, figures: dict[str, Any]) -> None:
    """Add one run's figures to the artifact the note quotes."""
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    ARTIFACT.write_text(json.dumps(known | {replication: figures}, indent=1) + "\n")
