"""Benchmark: one 15 MB entry in and out (scenario 6): time, and the worker's peak memory as a multiple of its size.

One gunicorn worker serves; before each request its peak resident set is reset
(``/proc/PID/clear_refs``), so the peak read after it (``VmHWM``) is that
request's. The entry is a dataset of rows, the usual shape of a large data
map. The time reference is the same bytes sent to and read from
``/healthz``-sized work: a POST of the same body to an endpoint that refuses
it (the cost of moving the bytes), measured in the same run. Run:
``python -m bench.large``.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from bench.harness import each_backend, merged_rows, stack, write_result

TARGET_BYTES = 15_000_000


def dataset() -> dict[str, Any]:
    """About TARGET_BYTES of JSON: rows of a few typed fields, as a data map's dataset would be."""
    row_bytes = len(json.dumps(_row(0)))
    return {"entities": {"usina": [_row(n) for n in range(TARGET_BYTES // row_bytes)]}}


def _row(n: int) -> dict[str, Any]:
    return {"id": f"U{n:08d}", "nome": f"Usina {n}", "potencia": n * 1.5, "ativa": n % 3 == 0, "uf": "SP"}


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def _peak_over(pid: int, request: Any) -> tuple[float, int]:
    """Run ``request``; return its seconds and how far the worker's resident set rose above where it was."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current resident set
    before = _status_kib(pid, "VmRSS")
    started = time.perf_counter()
    request()
    seconds = time.perf_counter() - started
    return seconds, (_status_kib(pid, "VmHWM") - before) * 1024


def measure(url: str, pid: int, body: bytes) -> dict[str, Any]:
    """The append and the read of one large entry, and the cost of moving the same bytes."""
    iid = str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    post = f"{url}/api/v1/instances/{iid}/history"
    moved, _ = _peak_over(pid, lambda: requests.post(f"{url}/healthz", data=body, headers=headers, timeout=120))
    entry: dict[str, Any] = {}

    def append() -> None:
        response = requests.post(post, data=body, headers=headers, timeout=120)
        response.raise_for_status()
        entry.update(response.json())

    append_seconds, append_peak = _peak_over(pid, append)
    size = entry["size"]
    read_seconds, read_peak = _peak_over(
        pid, lambda: requests.get(f"{post}/{entry['seq']}", timeout=120).raise_for_status()
    )
    return {
        "size": size,
        "append_seconds": append_seconds,
        "append_peak_bytes": append_peak,
        "append_peak_ratio": append_peak / size,
        "read_seconds": read_seconds,
        "read_peak_bytes": read_peak,
        "read_peak_ratio": read_peak / size,
        "move_seconds": moved,
    }


def main(argv: list[str]) -> None:
    """Measure each backend; write bench/results/large.json."""
    body = json.dumps({"type": "dataset", "data": dataset()}).encode()
    rows = []
    for store, workdir in each_backend(argv):
        name = store.name
        with stack(store, workdir, workers=1) as served:
            [pid] = served.gunicorn.worker_pids()
            row = {"backend": name} | measure(served.url, pid, body)
        rows.append(row)
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}))
    rows = merged_rows("large", rows, argv)
    found = [
        {
            "what": f"{row['backend']}: peak worker memory for a 15 MB entry, in and out, at most 5× its size",
            "figure": f"in {row['append_peak_ratio']:.1f}×, out {row['read_peak_ratio']:.1f}× of {row['size']:,} bytes",
            "met": max(row["append_peak_ratio"], row["read_peak_ratio"]) <= 5,
        }
        for row in rows
    ]
    write_result("large", {"rows": rows, "targets": found})


def table(result: dict[str, Any]) -> str:
    """Time and peak memory per backend."""
    lines = [
        "| backend | size MB | append s | append peak × size | read s | read peak × size | moving the bytes s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['backend']} | {row['size'] / 1e6:.1f} | {row['append_seconds']:.2f} "
            f"| {row['append_peak_ratio']:.1f} | {row['read_seconds']:.2f} | {row['read_peak_ratio']:.1f} "
            f"| {row['move_seconds']:.2f} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """Peak memory as a multiple of the entry's size, in and out, per backend."""
    names = [row["backend"] for row in result["rows"]]
    positions = range(len(names))
    axes.bar([p - 0.2 for p in positions], [row["append_peak_ratio"] for row in result["rows"]], 0.4, label="append")
    axes.bar([p + 0.2 for p in positions], [row["read_peak_ratio"] for row in result["rows"]], 0.4, label="read")
    axes.set_xticks(list(positions), names)
    axes.axhline(5, color="#cc3311", linestyle="--", linewidth=1, label="goal 5×")
    axes.set_ylabel("peak worker memory ÷ entry size")
    axes.set_title("A 15 MB entry in and out")
    axes.legend()


if __name__ == "__main__":
    main(sys.argv[1:])
