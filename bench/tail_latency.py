"""Benchmark: how soon a waiting live-tail reader sees an entry, through gunicorn.

The reference is a plain GET of one entry on the same server in the same run; the result is the
wake-up latency (from the writer's acknowledgement to the reader's answer) as a multiple of it.
A writer answered by the reader's own worker wakes it at once; one answered by another worker is
seen at the next poll (TAIL_POLL_SECONDS). Run: `make bench`.
"""

from __future__ import annotations

import http.client
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import requests

from tests.services import GunicornServer

ROUNDS = 40


def measure(workers: int) -> tuple[float, float, float]:
    """Return (reference, median wake-up, p90 wake-up) in seconds with this many gunicorn workers."""
    with tempfile.TemporaryDirectory() as tmp:
        server = GunicornServer({}, workers=workers, cwd=Path(tmp))
        server.start()
        try:
            iid = str(uuid.uuid4())
            path = f"/api/v1/instances/{iid}/history"
            head = requests.post(f"{server.url}{path}", json={"type": "t", "data": 0}, timeout=30).json()["seq"]
            plain, woken = [], []
            for n in range(ROUNDS):
                started = time.perf_counter()
                requests.get(f"{server.url}{path}/{head}", timeout=30).raise_for_status()
                plain.append(time.perf_counter() - started)
                reader = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                reader.request("GET", f"{path}?after={head}&wait=10")
                time.sleep(0.05)  # benchmark pacing only: let the reader reach its wait
                head = requests.post(f"{server.url}{path}", json={"type": "t", "data": n}, timeout=30).json()["seq"]
                acknowledged = time.perf_counter()
                items = json.loads(reader.getresponse().read())["items"]
                woken.append(time.perf_counter() - acknowledged)
                assert items and items[0]["seq"] == head
                reader.close()
        finally:
            server.stop()
    return statistics.median(plain), statistics.median(woken), statistics.quantiles(woken, n=10)[-1]


def main() -> None:
    """Print the wake-up latency with one worker (the writer's process wakes the reader) and with two."""
    print(f"{ROUNDS} wake-ups through gunicorn (gthread workers, SQLite)")
    for workers, case in ((1, "same worker"), (2, "two workers")):
        reference, median, p90 = measure(workers)
        print(
            f"{case:12} plain GET {reference * 1000:6.1f} ms (reference)   wake-up median {median * 1000:6.1f} ms"
            f"  p90 {p90 * 1000:6.1f} ms  = {median / reference:5.1f}x / {p90 / reference:5.1f}x"
        )


if __name__ == "__main__":
    main()
