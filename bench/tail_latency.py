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


def main() -> None:
    """Print the median and 90th percentile wake-up latency and the reference."""
    with tempfile.TemporaryDirectory() as tmp:
        server = GunicornServer({}, workers=2, cwd=Path(tmp))
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
    median, p90 = statistics.median(woken), statistics.quantiles(woken, n=10)[-1]
    reference = statistics.median(plain)
    print(f"{ROUNDS} wake-ups through gunicorn (2 gthread workers, SQLite)")
    print(f"plain GET        median {reference * 1000:7.1f} ms (reference)")
    print(f"wake-up latency  median {median * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms"
          f"  = {median / reference:5.1f}x / {p90 / reference:5.1f}x the reference")


if __name__ == "__main__":
    main()
