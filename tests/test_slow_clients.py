"""Idle, slow and waiting clients against real gunicorn, alone and behind real nginx: nobody else starves.

The attack opens idle connections, connections that send their headers a byte at a time, requests
whose body never arrives in full, and live-tail readers; meanwhile a client appends and reads, and
every one of its requests must be answered. Then the readers hang up, and the service's own count of
waiting readers (a metric) must fall to zero: their waits end with them. How fast the other requests
are answered under the attack is measured by `make bench` (bench/slow_clients.py), not asserted here.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.keys import KeySet, write_test_keys
from tests.services import GunicornServer, NginxServer, nginx_binary, unavailable, wait_until


@dataclass
class Attack:
    """How many hostile connections of each kind to hold open."""

    idle: int = 200
    slow_headers: int = 50
    short_bodies: int = 20
    tail_readers: int = 200
    sockets: list[socket.socket] = field(default_factory=list)
    readers: list[socket.socket] = field(default_factory=list)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


@contextmanager
def attacking(port: int, instance_id: str, key: str, attack: Attack) -> Iterator[Attack]:
    """Hold the attack's connections open (slow headers dribbling) until the block ends."""
    stop = threading.Event()
    slow: list[socket.socket] = []
    try:
        for _ in range(attack.idle):
            attack.sockets.append(_connect(port))
        for _ in range(attack.slow_headers):
            sock = _connect(port)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        for _ in range(attack.short_bodies):
            sock = _connect(port)
            sock.sendall(
                f"POST /api/v1/instances/{instance_id}/history HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
            )
            attack.sockets.append(sock)
        for _ in range(attack.tail_readers):
            sock = _connect(port)
            sock.sendall(
                f"GET /api/v1/instances/{instance_id}/history?after=1000&wait=30 HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {key}\r\n\r\n".encode()
            )
            attack.readers.append(sock)
        attack.sockets.extend(slow)

        def dribble() -> None:
            while not stop.wait(1.0):
                for sock in slow:
                    try:
                        sock.send(b"X")
                    except OSError:
                        pass

        threading.Thread(target=dribble, daemon=True).start()
        yield attack
    finally:
        stop.set()
        for sock in attack.sockets + attack.readers:
            sock.close()


def waiting_readers(base: str, keys: KeySet) -> float:
    """The service's count of live-tail readers waiting now, summed over its workers."""
    text = requests.get(f"{base}/metrics", headers=keys.bearer("admin"), timeout=10).text
    values = [line.split()[-1] for line in text.splitlines() if line.startswith("process_memory_tail_waiting_readers")]
    return sum(float(value) for value in values)


def others_are_served(base: str, instance_id: str, key: str, count: int = 40) -> None:
    """Append and read ``count`` times each through a URL that carries the key (Basic auth, as a platform client)."""
    host = base.removeprefix("http://")
    with requests.Session() as session:
        for number in range(count):
            written = session.post(
                f"http://ci:{key}@{host}/api/v1/instances/{instance_id}/history",
                json={"type": "t", "data": number},
                timeout=10,
            )
            assert written.status_code == 201, written.text
            read = session.get(f"http://ci:{key}@{host}/api/v1/instances/{instance_id}/head", timeout=10)
            assert read.status_code == 200 and read.json()["data"] == number


def run_the_attack(port: int, base: str, keys: KeySet, attack: Attack) -> None:
    """Attack, check that other clients are served, hang the readers up and see their waits end."""
    watched, busy = f"tail-{uuid.uuid4()}", f"work-{uuid.uuid4()}"
    with attacking(port, watched, keys.secrets["all"], attack):
        wait_until(lambda: waiting_readers(base, keys) >= attack.tail_readers, 30, "every reader waiting")
        others_are_served(base, busy, keys.secrets["all"])
        for reader in attack.readers:
            reader.close()
        wait_until(lambda: waiting_readers(base, keys) == 0, 10, "the hung-up readers' waits ending")


def test_gunicorn_alone_serves_others_through_the_attack(tmp_path: Path) -> None:
    keys = write_test_keys(tmp_path)
    server = GunicornServer({"PROCESS_MEMORY_API_KEYS_FILE": str(keys.path)}, workers=2, cwd=tmp_path)
    server.start()
    try:
        run_the_attack(server.port, server.url, keys, Attack())
    finally:
        server.stop()


def test_nginx_in_front_serves_others_through_the_attack(tmp_path: Path) -> None:
    if nginx_binary() is None:
        unavailable("nginx not installed (Debian package nginx; .ci/run installs it)")
    keys = write_test_keys(tmp_path)
    env = {"PROCESS_MEMORY_API_KEYS_FILE": str(keys.path), "PROCESS_MEMORY_PROXY_HOPS": "1"}
    gunicorn = GunicornServer(env, workers=2, cwd=tmp_path)
    gunicorn.start()
    nginx = NginxServer(tmp_path / "nginx", f"127.0.0.1:{gunicorn.port}", 1024 * 1024)
    nginx.start()
    try:
        run_the_attack(nginx.port, nginx.url, keys, Attack())
    finally:
        nginx.stop()
        gunicorn.stop()


@pytest.mark.parametrize("bound", [3])
def test_readers_past_the_bound_get_503_with_retry_after(tmp_path: Path, bound: int) -> None:
    keys = write_test_keys(tmp_path)
    env = {"PROCESS_MEMORY_API_KEYS_FILE": str(keys.path), "PROCESS_MEMORY_MAX_TAIL_WAITING": str(bound)}
    server = GunicornServer(env, workers=1, cwd=tmp_path)
    server.start()
    try:
        watched = f"tail-{uuid.uuid4()}"
        with attacking(server.port, watched, keys.secrets["all"], Attack(0, 0, 0, bound)):
            wait_until(lambda: waiting_readers(server.url, keys) >= bound, 30, "the bound reached")
            refused = requests.get(
                f"{server.url}/api/v1/instances/{watched}/history?wait=5", headers=keys.bearer("read"), timeout=10
            )
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert refused.json()["error"]["code"] == "too_many_waiting"
            # A read that need not wait is still served.
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()


def test_a_stopping_server_ends_the_waits_at_once(tmp_path: Path) -> None:
    """SIGTERM with readers waiting 30 s: each gets its empty page and gunicorn exits long before the wait would end."""
    keys = write_test_keys(tmp_path)
    server = GunicornServer({"PROCESS_MEMORY_API_KEYS_FILE": str(keys.path)}, workers=2, cwd=tmp_path)
    server.start()
    watched = f"tail-{uuid.uuid4()}"
    try:
        with attacking(server.port, watched, keys.secrets["all"], Attack(0, 0, 0, 10)) as attack:
            wait_until(lambda: waiting_readers(server.url, keys) >= 10, 30, "every reader waiting")
            assert server.process is not None
            server.process.terminate()
            for reader in attack.readers:
                answer = b""
                while not answer.endswith(b"null}\n") and (chunk := reader.recv(65536)):
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"items":[],"next":null}\n'), answer
            # Within 20 s, short of the readers' 30 s wait: the stop did not sit it out.
            wait_until(lambda: server.process is not None and server.process.poll() is not None, 20, "gunicorn exit")
    finally:
        server.stop()
