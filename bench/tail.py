"""Benchmark: how soon a waiting live-tail reader in another process sees an append (scenario 7), per backend.

Two gunicorn servers (one worker each) serve the same database: the reader
waits on one (``GET …/history?after=HEAD&wait=10``), the writer appends through
the other, so the reader is always in another process. The figure is the time
from the writer's acknowledgement to the reader's answer; the reference is a
plain ``GET`` of one entry on the same server in the same run. Run:
``python -m bench.tail [--quick]``.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import time
import uuid
from typing import Any

import requests

from bench.harness import each_backend, merged_rows, stack, write_result

ROUNDS = 20


def _waiting_readers(url: str) -> float:
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("process_memory_tail_waiting")
    )


def _until_waiting(url: str) -> None:
    deadline = time.monotonic() + 10
    while _waiting_readers(url) < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the reader never started waiting")


def measure(reader_url: str, writer_url: str, rounds: int) -> dict[str, Any]:
    """Return the plain-GET reference and every wake-up, in milliseconds."""
    iid = str(uuid.uuid4())
    path = f"/api/v1/instances/{iid}/history"
    head = requests.post(f"{writer_url}{path}", json={"type": "t", "data": 0}, timeout=30).json()["seq"]
    plain, woken = [], []
    host, port = reader_url.removeprefix("http://").split(":")
    for n in range(rounds):
        started = time.perf_counter()
        requests.get(f"{reader_url}{path}/{head}", timeout=30).raise_for_status()
        plain.append((time.perf_counter() - started) * 1000)
        reader = http.client.HTTPConnection(host, int(port), timeout=60)
        reader.request("GET", f"{path}?after={head}&wait=10")
        _until_waiting(reader_url)
        head = requests.post(f"{writer_url}{path}", json={"type": "t", "data": n}, timeout=30).json()["seq"]
        acknowledged = time.perf_counter()
        items = json.loads(reader.getresponse().read())["items"]
        woken.append((time.perf_counter() - acknowledged) * 1000)
        reader.close()
        if not items or items[0]["seq"] != head:
            raise RuntimeError("the reader was answered without the entry")
    return {"reference_ms": statistics.median(plain), "wakeups_ms": woken, "median_ms": statistics.median(woken)}


def main(argv: list[str]) -> None:
    """Measure each backend (SQLite only with --quick); write bench/results/tail.json."""
    quick = "--quick" in argv
    rows = []
    for store, workdir in each_backend(argv):
        store.env["PROCESS_MEMORY_METRICS_OPEN"] = "1"
        with stack(store, workdir, workers=1) as reader, stack(store, workdir, workers=1) as writer:
            row = measure(reader.url, writer.url, 10 if quick else ROUNDS)
        p90 = statistics.quantiles(row["wakeups_ms"], n=10)[-1]
        rows.append({"backend": store.name, "p90_ms": p90} | row)
        median, plain = row["median_ms"], row["reference_ms"]
        print(f"{store.name:10} wake-up median {median:6.1f} ms  p90 {p90:6.1f} ms  plain GET {plain:5.1f} ms")
    rows = merged_rows("tail", rows, argv)
    found = [
        {
            "what": f"{row['backend']}: a reader in another process wakes within 20 ms (median)",
            "figure": f"{row['median_ms']:.1f} ms ({row['median_ms'] / row['reference_ms']:.1f}× a plain GET)",
            "met": row["median_ms"] < 20,
        }
        for row in rows
    ]
    write_result("tail", {"quick": quick, "rows": rows, "targets": found})


def table(result: dict[str, Any]) -> str:
    """Wake-up latency beside the plain GET, per backend."""
    lines = [
        "| backend | wake-up median ms | wake-up p90 ms | plain GET ms | median ÷ plain GET |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['backend']} | {row['median_ms']:.1f} | {row['p90_ms']:.1f} | {row['reference_ms']:.1f} "
            f"| {row['median_ms'] / row['reference_ms']:.1f} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """Every wake-up, per backend, against the 20 ms goal."""
    axes.boxplot([row["wakeups_ms"] for row in result["rows"]], tick_labels=[row["backend"] for row in result["rows"]])
    axes.axhline(20, color="#cc3311", linestyle="--", linewidth=1, label="goal: median 20 ms")
    axes.set_ylabel("append acknowledged → reader answered (ms)")
    axes.set_title("Live tail, reader in another process")
    axes.legend()


if __name__ == "__main__":
    main(sys.argv[1:])
