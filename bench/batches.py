"""Benchmark: batches of 100 and 1,000 1 KB entries (scenario 3), against the store's own bulk insert.

wrk posts the same batch (bench/wrk/batch.lua) to 100 instances from 4
connections through gunicorn. The reference is the store's own bulk insert
of as many rows per commit, by one Python process with the same driver, in the
same run. Run: ``python -m bench.batches [--quick]``.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from bench.appends import RAW
from bench.harness import each_backend, merged_rows, stack, summary, write_result, wrk

SIZES = (100, 1000)
CONNECTIONS = 4


def main(argv: list[str]) -> None:
    """Measure each backend (SQLite only with --quick); write bench/results/batches.json."""
    quick = "--quick" in argv
    rows = []
    for store, workdir in each_backend(argv):
        name = store.name
        with stack(store, workdir) as served:
            for size in SIZES:
                raw = RAW[store.name](store.url, size)
                # A prefix per round: ids repeat between wrk runs, and must meet fresh instances.
                loads = [
                    wrk(served.url, CONNECTIONS, 3, "batch", BENCH_BATCH=str(size), BENCH_PREFIX=uuid.uuid4().hex)
                    for _ in range(2)
                ]
                measured = summary(loads)
                row = {"backend": name, "batch": size, "entries_per_s": measured["rate"] * size, "raw_bulk": raw}
                rows.append(row | measured)
                print(json.dumps({k: round(v) if isinstance(v, float) else v for k, v in row.items()}))
    rows = merged_rows("batches", rows, argv)
    write_result("batches", {"quick": quick, "rows": rows})


def table(result: dict[str, Any]) -> str:
    """Entries per second through the API beside the store's own bulk insert."""
    lines = [
        "| backend | batch | entries/s | p99 ms | errors | raw bulk insert rows/s | × raw bulk |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['backend']} | {row['batch']} | {row['entries_per_s']:.0f} | {row['p99_ms']:.0f} "
            f"| {row['non_2xx'] + row['socket_errors']} | {row['raw_bulk']:.0f} "
            f"| {row['entries_per_s'] / row['raw_bulk']:.2f} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """Batched appends as a multiple of the store's own bulk insert."""
    rows = result["rows"]
    axes.bar(
        [f"{row['backend']}\n{row['batch']}" for row in rows],
        [row["entries_per_s"] / row["raw_bulk"] for row in rows],
        color="#4477aa",
    )
    axes.set_ylabel("entries/s ÷ raw bulk insert rows/s")
    axes.set_title("Batches through the API against the store's bulk insert")


if __name__ == "__main__":
    main(sys.argv[1:])
