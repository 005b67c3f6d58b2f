"""Benchmark: other clients' latency while idle, slow and waiting clients hold connections open.

Against gunicorn as `make run` starts it (5 workers, SQLite) and behind nginx, a client appends and
reads its head, first with nobody else connected (the reference, in the same run), then while the
attack of tests/test_slow_clients.py holds 200 idle connections, 50 slow-header connections, 20
short bodies and 200 waiting live-tail readers. The figures: p50 and p99 of those requests, and the
p99 as a multiple of the reference. Run: `make bench`.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

import requests

from tests.keys import KeySet, write_test_keys
from tests.services import GunicornServer, NginxServer, nginx_binary, wait_until
from tests.test_slow_clients import Attack, attacking, waiting_readers

REQUESTS = 200


def _latencies(base: str, key: str) -> list[float]:
    """Time REQUESTS requests, alternately an append and a read of the head, on one keep-alive session."""
    instance_id = f"bench-{uuid.uuid4()}"
    timings = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {key}"
        for number in range(REQUESTS):
            started = time.perf_counter()
            if number % 2:
                response = session.get(f"{base}/api/v1/instances/{instance_id}/head")
            else:
                response = session.post(
                    f"{base}/api/v1/instances/{instance_id}/history", json={"type": "t", "data": number}
                )
            timings.append(time.perf_counter() - started)
            assert response.status_code in (200, 201), response.text[:200]
    return timings


def _measure(port: int, base: str, keys: KeySet) -> tuple[list[float], list[float]]:
    reference = _latencies(base, keys.secrets["all"])
    with attacking(port, f"tail-{uuid.uuid4()}", keys.secrets["all"], Attack()):
        wait_until(lambda: waiting_readers(base, keys) >= Attack().tail_readers, 60, "every reader waiting")
        attacked = _latencies(base, keys.secrets["all"])
    return reference, attacked


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _report(case: str, reference: list[float], attacked: list[float]) -> None:
    print(
        f"{case:16} reference p50 {statistics.median(reference) * 1000:6.1f} ms p99 {_p99(reference) * 1000:6.1f} ms"
        f"   under attack p50 {statistics.median(attacked) * 1000:6.1f} ms p99 {_p99(attacked) * 1000:6.1f} ms"
        f"   p99 ratio {_p99(attacked) / _p99(reference):5.2f}x"
    )


def main() -> None:
    """Measure gunicorn alone, then behind nginx when it is installed."""
    print(f"{REQUESTS} requests (append, head) per case; attack: 200 idle, 50 slow-header, 20 short-body, 200 tail")
    with tempfile.TemporaryDirectory() as tmp:
        keys = write_test_keys(Path(tmp))
        env = {"PROCESS_MEMORY_API_KEYS_FILE": str(keys.path)}
        server = GunicornServer(env, workers=5, cwd=Path(tmp), args=())
        server.start()
        try:
            _report("gunicorn alone", *_measure(server.port, server.url, keys))
        finally:
            server.stop()
        if nginx_binary() is None:
            print("behind nginx     skipped: nginx is not installed")
            return
        behind = GunicornServer({**env, "PROCESS_MEMORY_PROXY_HOPS": "1"}, workers=5, cwd=Path(tmp), args=())
        behind.start()
        nginx = NginxServer(Path(tmp) / "nginx", f"127.0.0.1:{behind.port}", 1024 * 1024)
        nginx.start()
        try:
            _report("behind nginx", *_measure(nginx.port, nginx.url, keys))
        finally:
            nginx.stop()
            behind.stop()


if __name__ == "__main__":
    main()
