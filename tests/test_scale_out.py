"""Past one machine (issue 31, first shape): two app hosts behind one nginx, on one PostgreSQL for history and
one Redis for state, as docs/deployment.md's scaling section describes them.

Each app host is a gunicorn of its own on its own loopback address (127.0.0.2, 127.0.0.3), with its own
``TMPDIR``: so the hosts share nothing but the databases, and a live-tail reader on one host can be woken by an
append on the other only through PostgreSQL's NOTIFY, as on two machines. nginx's upstream names both
(``make nginx-config UPSTREAM="a b"``). The figures these tests see (the tail's wake-up across hosts) are
written to ``.cache/artifacts/scale-out.json``; speed itself is measured by ``bench.scale_out``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.keys import KeySet, write_test_keys
from tests.services import (
    ROOT,
    GunicornServer,
    NginxServer,
    PostgresServer,
    RedisServer,
    nginx_binary,
    unavailable,
    wait_until,
)
from tests.test_gunicorn import append_with_retries, appending, assert_complete_chain, read_all
from tests.test_nginx import MAX_BODY, behind_nginx

HOST_ADDRESSES = ("127.0.0.2", "127.0.0.3")
ARTIFACT = ROOT / ".cache" / "artifacts" / "scale-out.json"
#: A waiting reader looks again on its own only this often here: one that answers sooner was woken.
POLL_MS = 60_000


@dataclass
class TwoHosts:
    """nginx in front of two app hosts, and the keys every request carries."""

    nginx: NginxServer
    hosts: list[GunicornServer]
    keys: KeySet

    def _with_key(self, url: str) -> str:
        return url.replace("http://", f"http://ops:{self.keys.secrets['all']}@")

    @property
    def url(self) -> str:
        """Through nginx, as clients reach the service."""
        return self._with_key(self.nginx.url)

    def host_url(self, n: int) -> str:
        """Host ``n`` itself, past nginx, to be sure of which host serves a request."""
        return self._with_key(self.hosts[n].url)


def _database_url(postgres: PostgresServer) -> str:
    """A database of its own in the tests' PostgreSQL cluster, as SQLAlchemy names it."""
    name = f"scale_{uuid.uuid4().hex[:10]}"
    postgres.create_database(name)
    return f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/{name}"


def _start_two_hosts(postgres: PostgresServer, redis: RedisServer, root: Path) -> TwoHosts:
    keys = write_test_keys(root)
    shared = {
        "PROCESS_MEMORY_DATABASE_URL": _database_url(postgres),
        "PROCESS_MEMORY_STATE_BACKEND": "redis",
        "PROCESS_MEMORY_STATE_REDIS_URL": redis.url,
        "PROCESS_MEMORY_TAIL_POLL_MS": str(POLL_MS),
        **behind_nginx(keys),
    }
    hosts = []
    for address in HOST_ADDRESSES:
        home = root / address
        (home / "tmp").mkdir(parents=True)
        hosts.append(GunicornServer(shared | {"TMPDIR": str(home / "tmp")}, workers=2, cwd=home, host=address))
    for host in hosts:
        host.start()
    nginx = NginxServer(root / "nginx", [f"{host.host}:{host.port}" for host in hosts], MAX_BODY)
    nginx.start()
    return TwoHosts(nginx, hosts, keys)


@pytest.fixture
def two_hosts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TwoHosts]:
    """Start PostgreSQL and Redis (the run's), two app hosts and nginx; stop what was started here."""
    if nginx_binary() is None:
        unavailable("nginx not installed (Debian package nginx; .ci/run installs it)")
    stack = _start_two_hosts(request.getfixturevalue("postgres"), request.getfixturevalue("redis_server"), tmp_path)
    yield stack
    stack.nginx.stop()
    for host in stack.hosts:
        host.stop()


def _served_appends(host: GunicornServer) -> int:
    """How many appends the host's access log shows it answered."""
    return sum(1 for line in host.json_lines() if line.get("method") == "POST" and line.get("status") in (200, 201))


def test_writers_on_both_hosts_keep_every_instance_gapless_and_each_id_once(two_hosts: TwoHosts) -> None:
    instances = [str(uuid.uuid4()) for _ in range(4)]

    def write(writer: int) -> set[str]:
        acknowledged = set()
        with requests.Session() as session:
            for n in range(6):
                iid = instances[(writer + n) % len(instances)]
                body = {"type": "w", "id": str(uuid.uuid4()), "data": {"writer": writer, "n": n}}
                first = append_with_retries(session, two_hosts.url, iid, body)
                again = append_with_retries(session, two_hosts.url, iid, body)  # a retry: the same id, stored once
                assert (again["seq"], again["hash"]) == (first["seq"], first["hash"])
                acknowledged.add(first["id"])
        return acknowledged

    with ThreadPoolExecutor(32) as pool:
        acknowledged = set().union(*pool.map(write, range(32)))
    assert len(acknowledged) == 32 * 6
    stored = 0
    for iid in instances:
        ids = {entry["id"] for entry in read_all(two_hosts.url, iid)}
        assert_complete_chain(two_hosts.url, iid, acknowledged & ids)
        stored += len(ids)
    assert stored == 32 * 6
    assert all(_served_appends(host) > 0 for host in two_hosts.hosts)  # nginx spread them over both


def test_if_match_lets_one_of_the_writers_on_both_hosts_take_the_next_seq(two_hosts: TwoHosts) -> None:
    iid = str(uuid.uuid4())
    requests.post(f"{two_hosts.url}/api/v1/instances/{iid}/history", json={"type": "t", "data": 0}, timeout=30)
    start = threading.Barrier(16)

    def conditional(n: int) -> int:
        start.wait(30)
        answer = requests.post(
            f"{two_hosts.host_url(n % 2)}/api/v1/instances/{iid}/history",
            json={"type": "t", "data": n},
            headers={"If-Match": '"0"'},
            timeout=60,
        )
        return answer.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(conditional, range(16)))
    assert sorted(statuses) == [201] + [412] * 15
    assert [entry["seq"] for entry in read_all(two_hosts.url, iid)] == [0, 1]


def test_a_state_compare_and_set_across_hosts_has_one_winner(two_hosts: TwoHosts) -> None:
    iid = str(uuid.uuid4())
    created = requests.put(f"{two_hosts.url}/api/v1/instances/{iid}/state", json={"step": 0}, timeout=30)
    assert created.status_code in (200, 201)
    etag = created.headers["ETag"]
    start = threading.Barrier(16)

    def swap(n: int) -> int:
        start.wait(30)
        answer = requests.put(
            f"{two_hosts.host_url(n % 2)}/api/v1/instances/{iid}/state",
            json={"step": 1, "by": n},
            headers={"If-Match": etag},
            timeout=60,
        )
        return answer.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(swap, range(16)))
    assert sorted(statuses) == [200] + [412] * 15
    winner = statuses.index(200)
    assert requests.get(f"{two_hosts.url}/api/v1/instances/{iid}/state", timeout=30).json() == {"step": 1, "by": winner}


def waiting_readers(host: GunicornServer, keys: KeySet) -> float:
    """How many live-tail readers the host holds waiting now, from its metrics."""
    metrics = requests.get(f"{host.url}/metrics", headers=keys.bearer("all"), timeout=10).text
    lines = [line for line in metrics.splitlines() if line.startswith("process_memory_tail_waiting_readers")]
    return sum(float(line.split()[-1]) for line in lines)


def test_a_reader_on_one_host_is_woken_by_an_append_on_the_other(two_hosts: TwoHosts) -> None:
    # Readers here look again on their own only after a minute: one answered within 10 s was woken by NOTIFY.
    woken_after = woken_across_hosts(
        two_hosts.hosts[0], two_hosts.host_url(0), two_hosts.host_url(1), two_hosts.keys, 20
    )
    _record({"tail_wakeup_across_hosts_ms": _percentiles(woken_after)})


def woken_across_hosts(
    reader_host: GunicornServer, reader_url: str, writer_url: str, keys: KeySet, rounds: int
) -> list[float]:
    """Rounds of: a reader waiting on one host, an append on the other; each reader must be answered, within 10 s,
    with that entry. Return how long each took from the append's request, in ms."""
    iid = str(uuid.uuid4())
    append_with_retries(requests.Session(), writer_url, iid, {"type": "t", "data": -1})
    woken_after = []
    for n in range(rounds):
        answer: list[requests.Response] = []
        reader = threading.Thread(target=read_waiting, args=(f"{reader_url}/api/v1/instances/{iid}/history", n, answer))
        reader.start()
        wait_until(lambda: waiting_readers(reader_host, keys) >= 1, 30, "the reader waiting")
        sent = time.monotonic()
        requests.post(f"{writer_url}/api/v1/instances/{iid}/history", json={"type": "t", "data": n}, timeout=30)
        reader.join(10)
        woken_after.append((time.monotonic() - sent) * 1000)
        assert not reader.is_alive(), f"round {n}: the reader on the other host was not woken"
        assert [item["data"] for item in answer[0].json()["items"]] == [n]
    return woken_after


def read_waiting(history_url: str, after: int, answer: list[requests.Response]) -> None:
    """Read the history after ``after``, waiting up to 30 s for an entry; keep the answer in ``answer``."""
    answer.append(requests.get(history_url, params={"after": after, "wait": 30}, timeout=60))


def test_a_host_killed_mid_load_loses_nothing_acknowledged_and_nginx_moves_on(two_hosts: TwoHosts) -> None:
    iid = str(uuid.uuid4())
    killed = two_hosts.hosts[0]
    with appending(two_hosts.url, iid, writers=8) as acknowledged:
        wait_until(lambda: len(acknowledged) >= 60, 120, "60 acknowledged appends")
        assert killed.process is not None
        for pid in [*killed.worker_pids(), killed.process.pid]:
            os.kill(pid, signal.SIGKILL)
        killed.process.wait(10)
        count_at_kill = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= count_at_kill + 60, 120, "60 more appends, on the other host")
    assert_complete_chain(two_hosts.url, iid, acknowledged)
    survivor = two_hosts.hosts[1]
    assert requests.get(f"{two_hosts.host_url(1)}/readyz", timeout=10).status_code == 200
    assert _served_appends(survivor) > 0


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "rounds": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max": round(ordered[-1], 2),
    }


def _record(figures: dict[str, Any]) -> None:
    """Add figures to the artifact the note quotes; nothing asserts on them."""
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    ARTIFACT.write_text(json.dumps(known | figures, indent=1) + "\n")
