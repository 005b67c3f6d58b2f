"""Benchmark: reads (scenario 4): the head, a page of 100, the original's head, and a reprocessing query.

Each backend gets 40 instances (FerretDB 10), each with one memory document (50 entities
read by query, as the platform's apps commit them) and 100 entries of 1 KB.
wrk then sends one kind of request at a time from 16 connections, to
instances at random, in rounds alternating with the HTTP ceiling (``GET
/healthz``) on the same stack. Run: ``python -m bench.reads [--quick]``.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import requests

from bench.harness import each_backend, merged_rows, stack, summary, write_result, wrk
from tests.memories import TABLES_BY_TAG, memory, read_by_query

INSTANCES = 40
FERRETDB_INSTANCES = 10
ENTRIES = 100
CONNECTIONS = 16
#: Each kind of read: (name, method, path, body); "{id}" is an instance id.
READS = [
    ("head", "GET", "/api/v1/instances/{id}/head", None),
    ("page of 100", "GET", "/api/v1/instances/{id}/history?limit=100", None),
    ("original's head", "GET", "/{id}/head", None),
    (
        "byentities",
        "POST",
        "/instances/reprocessable/byentities",
        json.dumps({"entities": ["E3-0", "E50-1"], "tables_grouped_by_tags": TABLES_BY_TAG}),
    ),
]


def load(url: str, instances: int) -> list[str]:
    """Give ``instances`` instances a memory document and ENTRIES entries each; return their ids."""
    ids = [str(uuid.uuid4()) for _ in range(instances)]
    with requests.Session() as session:
        for n, iid in enumerate(ids):
            document = memory(iid, dataset={"entities": {"usina": [read_by_query(f"E{n}-{k}") for k in range(50)]}})
            session.post(f"{url}/{iid}/commit", json=document, timeout=60).raise_for_status()
            batch = [{"id": str(uuid.uuid4()), "type": "row", "data": {"pad": "x" * 1000}} for _ in range(ENTRIES)]
            session.post(f"{url}/api/v1/instances/{iid}/history/batch", json={"entries": batch}, timeout=60)
    return ids


def measure(url: str, ids: list[str], rounds: int) -> list[dict[str, Any]]:
    """One row per kind of read, with the ceiling measured in alternating rounds."""
    rows = []
    for name, method, path, body in READS:
        env = {"BENCH_METHOD": method, "BENCH_PATH": path, "BENCH_IDS": ",".join(ids)} | (
            {"BENCH_BODY": body} if body else {}
        )
        reads, ceiling = [], []
        for _ in range(rounds):
            ceiling.append(wrk(f"{url}/healthz", CONNECTIONS, 2))
            reads.append(wrk(url, CONNECTIONS, 2, "request", **env))
        rows.append({"read": name} | summary(reads) | {"ceiling": summary(ceiling)["rate"]})
    return rows


def main(argv: list[str]) -> None:
    """Measure each backend (SQLite only with --quick); write bench/results/reads.json."""
    rows: list[dict[str, Any]] = []
    for store, workdir in each_backend(argv):
        name = store.name
        with stack(store, workdir) as served:
            # FerretDB 1.x scans the collection on every load request too: fewer instances keep the run short.
            ids = load(served.url, FERRETDB_INSTANCES if name.startswith("ferretdb") else INSTANCES)
            rows += [{"backend": name} | row for row in measure(served.url, ids, 2)]
        for row in rows[-len(READS) :]:
            print(f"{name:10} {row['read']:16} {row['rate']:7.0f}/s  ceiling {row['ceiling']:6.0f}/s")
    rows = merged_rows("reads", rows, argv)
    found = [
        {
            "what": f"{row['backend']}: {row['read']} reads reach 0.5× the HTTP ceiling",
            "figure": f"{row['rate'] / row['ceiling']:.2f}× ({row['rate']:.0f}/s against {row['ceiling']:.0f}/s)",
            "met": row["rate"] >= 0.5 * row["ceiling"] and row["non_2xx"] + row["socket_errors"] == 0,
        }
        for row in rows
        if row["read"] in ("head", "page of 100")
    ]
    write_result("reads", {"quick": "--quick" in argv, "rows": rows, "targets": found})


def table(result: dict[str, Any]) -> str:
    """Reads per second beside the ceiling, per backend and kind."""
    lines = [
        "| backend | read | reads/s | p50 ms | p99 ms | errors | ceiling/s | × ceiling |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['backend']} | {row['read']} | {row['rate']:.0f} | {row['p50_ms']:.0f} | {row['p99_ms']:.0f} "
            f"| {row['non_2xx'] + row['socket_errors']} | {row['ceiling']:.0f} | {row['rate'] / row['ceiling']:.2f} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """Reads as a multiple of the HTTP ceiling."""
    rows = result["rows"]
    axes.bar(
        [f"{row['backend']}\n{row['read']}" for row in rows],
        [row["rate"] / row["ceiling"] for row in rows],
        color="#4477aa",
    )
    axes.axhline(0.5, color="#cc3311", linestyle="--", linewidth=1, label="goal 0.5× (head, page)")
    axes.tick_params(axis="x", labelsize=8)
    axes.set_ylabel("reads/s ÷ GET /healthz/s")
    axes.set_title("Reads as a multiple of the HTTP ceiling")
    axes.legend()


if __name__ == "__main__":
    main(sys.argv[1:])
