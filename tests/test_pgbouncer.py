"""Through a connection pooler (issue 31, fourth shape): PgBouncer in transaction mode between two app hosts and
PostgreSQL, as docs/deployment.md configures it.

What a transaction-mode pooler breaks, and how the service copes, each shown here:
- statements prepared on the server (psycopg prepares one after its fifth run on a connection): the next
  transaction may run on another server connection, where it does not exist. With
  ``PROCESS_MEMORY_DATABASE_POOLER=transaction`` none is prepared;
- advisory locks: the service takes only transaction-scoped ones (``pg_advisory_xact_lock``), which a
  transaction-mode pooler keeps on one server connection for the transaction's length;
- LISTEN, which needs a session: the live tail LISTENs on ``PROCESS_MEMORY_DATABASE_LISTEN_URL``, the primary
  itself; its NOTIFY is sent inside each append's transaction, through the pooler.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.keys import KeySet, write_test_keys
from tests.services import (
    GunicornServer,
    PgBouncerServer,
    PostgresServer,
    pgbouncer_binary,
    unavailable,
)
from tests.test_gunicorn import append_with_retries, assert_complete_chain, read_all
from tests.test_scale_out import HOST_ADDRESSES, woken_across_hosts

#: A waiting reader looks again on its own only this often here: one that answers sooner was woken.
POLL_MS = 60_000


@dataclass
class Pooled:
    """Two app hosts whose every query goes through PgBouncer, and the pooler itself."""

    pgbouncer: PgBouncerServer
    hosts: list[GunicornServer]
    keys: KeySet

    def host_url(self, n: int) -> str:
        """Host ``n``, with the key every request carries."""
        return self.hosts[n].url.replace("http://", f"http://ops:{self.keys.secrets['all']}@")


@pytest.fixture
def pooled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pooled]:
    """PostgreSQL (the run's), a database of its own, PgBouncer in front of it, two app hosts through it."""
    if pgbouncer_binary() is None:
        unavailable("pgbouncer not installed (Debian package pgbouncer; .ci/run installs it)")
    postgres: PostgresServer = request.getfixturevalue("postgres")
    database = f"pooled_{uuid.uuid4().hex[:10]}"
    postgres.create_database(database)
    pgbouncer = PgBouncerServer(postgres)
    pgbouncer.start()
    keys = write_test_keys(tmp_path)
    env = {
        "PROCESS_MEMORY_DATABASE_URL": pgbouncer.url(database),
        "PROCESS_MEMORY_DATABASE_POOLER": "transaction",
        "PROCESS_MEMORY_DATABASE_LISTEN_URL": f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/{database}",
        "PROCESS_MEMORY_TAIL_POLL_MS": str(POLL_MS),
        "PROCESS_MEMORY_API_KEYS_FILE": str(keys.path),
    }
    hosts = []
    for address in HOST_ADDRESSES:
        home = tmp_path / address
        (home / "tmp").mkdir(parents=True)
        hosts.append(GunicornServer(env | {"TMPDIR": str(home / "tmp")}, workers=2, cwd=home, host=address))
    try:
        for host in hosts:
            host.start()
        yield Pooled(pgbouncer, hosts, keys)
    finally:
        for host in hosts:
            host.stop()
        pgbouncer.stop()


def test_a_hot_instance_written_from_both_hosts_through_the_pooler_stays_gapless(pooled: Pooled) -> None:
    iid = str(uuid.uuid4())

    def write(writer: int) -> set[str]:
        with requests.Session() as session:
            url = pooled.host_url(writer % 2)
            return {
                append_with_retries(session, url, iid, {"type": "w", "id": str(uuid.uuid4()), "data": n})["id"]
                for n in range(10)
            }

    with ThreadPoolExecutor(32) as pool:
        acknowledged = set().union(*pool.map(write, range(32)))
    assert len(acknowledged) == 320
    assert_complete_chain(pooled.host_url(0), iid, acknowledged)
    assert "login attempt: db=pooled_" in pooled.pgbouncer.log()  # the hosts' connections were the pooler's
    # No append needed its retry: none met a statement prepared on another server connection (a 503 each).
    assert not any("store failure" in host.log() for host in pooled.hosts)


def test_batches_from_both_hosts_through_the_pooler_are_stored_whole(pooled: Pooled) -> None:
    iid = str(uuid.uuid4())

    def batch(n: int) -> int:
        entries = [{"type": "b", "id": str(uuid.uuid4()), "data": {"batch": n, "k": k}} for k in range(100)]
        answer = requests.post(
            f"{pooled.host_url(n % 2)}/api/v1/instances/{iid}/history/batch", json={"entries": entries}, timeout=60
        )
        assert answer.status_code == 201, answer.text
        return len(answer.json()["results"])

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(batch, range(8))) == [100] * 8
    entries = read_all(pooled.host_url(1), iid)
    assert [entry["seq"] for entry in entries] == list(range(800))
    by_batch = [entry["data"]["batch"] for entry in entries]
    assert all(by_batch[i] == by_batch[i - i % 100] for i in range(800))  # each batch in one piece
    assert requests.get(f"{pooled.host_url(0)}/api/v1/instances/{iid}/verify", timeout=60).json()["ok"] is True


def test_a_reader_past_the_pooler_is_woken_by_an_append_through_it_on_the_other_host(pooled: Pooled) -> None:
    # Readers look again on their own only after a minute: one answered within 10 s heard the NOTIFY.
    assert len(woken_across_hosts(pooled.hosts[0], pooled.host_url(0), pooled.host_url(1), pooled.keys, 5)) == 5
