"""Benchmark: what anchoring the service log costs, per backend, with two litewitness witnesses cosigning.

- Appends at 16 connections over 1,000 instances through the shipped gunicorn.conf.py, with anchoring on
  (``PROCESS_MEMORY_ANCHOR_SECONDS=1``) against anchoring off (``0``), the same signing key and witnesses
  configured in both, in rounds ordered off, on, on, off…: the reference is the same stack without anchoring.
- Anchoring latency under that load: a probe appends one entry to a new instance every 250 ms, then polls its
  ``/anchor`` until the entry is in a published (cosigned by both witnesses) service checkpoint. The probe runs
  with anchoring off too, so that its own requests weigh on both alike.
- The service log's growth: leaves per append, and bytes per leaf as stored (its text and tree hashes).

Run: ``python -m bench.anchoring [--quick] [--backend NAME …]`` (in `make bench`; ``--quick`` is SQLite alone).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Backend, each_backend, merged_rows, stack, summary, write_result, wrk
from process_memory.proofs.notes import generate_key
from tests.witnesses import Litewitness

ORIGIN = "bench.process-memory"
#: Measured by default: FerretDB's SQLite handler scans (60 appends/s), so a round over 1,000 instances there
#: measures the handler; the MongoDB-wire backend's speed is issue 29's.
BACKEND_ARGS = ["--backend", "sqlite", "--backend", "postgresql"]
INSTANCES = "1000"


def _probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    """Append one entry to a new instance every 250 ms; each time the published checkpoint moves on (polled every
    100 ms), ask the pending instances for their anchor, and record how long each took to be anchored and
    cosigned. A few requests a second, beside the load's thousand."""
    pending: dict[str, float] = {}
    published, next_append = -1, 0.0
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.wait(0.1):
            now = time.perf_counter()
            if now >= next_append:
                instance = f"probe-{uuid.uuid4().hex[:8]}"
                if client.post(f"/api/v1/instances/{instance}/history", json={"type": "probe", "data": 1}).is_success:
                    pending[instance] = time.perf_counter()
                next_append = now + 0.25
            checkpoint = client.get("/api/v1/checkpoint")
            size = checkpoint.json()["size"] if checkpoint.is_success else -1
            if size == published:
                continue
            published, seen = size, time.perf_counter()
            for instance, started in list(pending.items()):
                if client.get(f"/api/v1/instances/{instance}/anchor").is_success:
                    latencies.append(seen - started)
                    del pending[instance]


def _appends(store: Backend, workdir: Path, anchoring: bool, seconds: int) -> tuple[Any, list[float]]:
    env = store.env | {"PROCESS_MEMORY_ANCHOR_SECONDS": "1" if anchoring else "0"}
    latencies: list[float] = []
    with stack(Backend(store.name, env, store.url), workdir) as served:
        wrk(served.url, 16, 1, "append", BENCH_PREFIX="warm", BENCH_INSTANCES=INSTANCES)
        stop = threading.Event()
        probe = threading.Thread(target=_probe, args=(served.url, stop, latencies), daemon=True)
        probe.start()
        load = wrk(served.url, 16, seconds, "append", BENCH_PREFIX=uuid.uuid4().hex[:8], BENCH_INSTANCES=INSTANCES)
        stop.set()
        probe.join()
        return load, latencies


def _growth(served_url: str) -> dict[str, Any]:
    with httpx.Client(base_url=served_url, timeout=10) as client:
        checkpoint = client.get("/api/v1/checkpoint").json()
        bundle = client.get(
            "/api/v1/log/tile/entries/000" + ("" if checkpoint["size"] >= 256 else f".p/{checkpoint['size']}")
        )
    return {"leaves": checkpoint["size"], "bundle_bytes": len(bundle.content)}


def measure(store: Backend, workdir: Path, quick: bool) -> list[dict[str, Any]]:
    """The appends with anchoring on and off, anchoring's latency, and the log's growth, on one backend."""
    rounds, seconds = (2, 3) if quick else (8, 8)
    signer, verifier = generate_key(ORIGIN)
    (workdir / "signing.key").write_text(signer)
    witnesses = [Litewitness(workdir / f"w{n}", f"w{n}.bench") for n in (1, 2)]
    for witness in witnesses:
        witness.start()
        witness.add_log(ORIGIN, verifier)
    try:
        configured = ";".join(f"{w.verifier_key} {w.url}" for w in witnesses)
        env = store.env | {
            "PROCESS_MEMORY_SIGNING_KEY_FILE": str(workdir / "signing.key"),
            "PROCESS_MEMORY_LOG_ORIGIN": ORIGIN,
            "PROCESS_MEMORY_WITNESSES": configured,
        }
        anchored = Backend(store.name, env, store.url)
        on, off, latencies = [], [], []
        # Off, on, on, off, off, on…: a drift in the machine's speed (PostgreSQL's warms up for minutes) falls on
        # both alike, where strict alternation gives the second of each pair the benefit.
        for turn in range(2 * rounds):
            anchoring = turn % 4 in (1, 2)
            load, probed = _appends(anchored, workdir, anchoring, seconds)
            (on if anchoring else off).append(load)
            latencies.extend(probed)
        with stack(anchored, workdir) as served:
            growth = _growth(served.url)
    finally:
        for witness in witnesses:
            witness.stop()
    appended = sum(load.requests for load in on + off)
    measured, reference = summary(on), summary(off)
    latencies.sort()
    return [
        {"scenario": "anchoring", "backend": store.name, "connections": 16, "instances": int(INSTANCES)}
        | {"with_anchoring": measured, "without_anchoring": reference}
        | {"ratio": measured["rate"] / reference["rate"] if reference["rate"] else 0.0}
        | {
            "latency_p50_s": statistics.median(latencies) if latencies else None,
            "latency_p99_s": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
            "latency_samples": len(latencies),
            "leaves_per_million_appends": round(growth["leaves"] / appended * 1_000_000) if appended else None,
            "bytes_per_leaf_in_bundle": growth["bundle_bytes"] / min(growth["leaves"], 256)
            if growth["leaves"]
            else None,
        }
    ]


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals, per backend: appends within 5% with anchoring on, and p99 to a cosigned anchor < 2 s."""
    found = []
    for row in rows:
        found.append(
            {
                "what": f"{row['backend']}: appends at 16 connections with anchoring on ≥ 0.95× anchoring off",
                "figure": f"{row['ratio']:.3f}×",
                "met": row["ratio"] >= 0.95,
            }
        )
        p99 = row["latency_p99_s"]
        found.append(
            {
                "what": f"{row['backend']}: append → anchored and cosigned, p99 under 2 s at full load",
                "figure": f"{p99:.2f} s" if p99 is not None else "no sample",
                "met": p99 is not None and p99 < 2,
            }
        )
    return found


def main(argv: list[str]) -> None:
    """Measure every chosen backend and write bench/results/anchoring.json."""
    quick = "--quick" in argv
    rows: list[dict[str, Any]] = []
    for store, workdir in each_backend(argv if "--backend" in argv or quick else [*argv, *BACKEND_ARGS]):
        rows.extend(measure(store, workdir, quick))
    merged = merged_rows("anchoring", rows, argv)
    path = write_result("anchoring", {"quick": quick, "rows": merged, "targets": targets(merged)})
    print(path.read_text())


def table(result: dict[str, Any]) -> str:
    """Appends with and without anchoring, latency to a cosigned anchor, and the log's growth, per backend."""
    lines = [
        "| backend | appends/s, anchoring on | off | on ÷ off | anchored p50 s | p99 s | samples "
        "| leaves per 1M appends | bytes per leaf (bundle) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        p50, p99 = row["latency_p50_s"], row["latency_p99_s"]
        lines.append(
            f"| {row['backend']} | {row['with_anchoring']['rate']:.0f} | {row['without_anchoring']['rate']:.0f} "
            f"| {row['ratio']:.3f} | {p50 or 0:.2f} | {p99 or 0:.2f} | {row['latency_samples']} "
            f"| {row['leaves_per_million_appends']:,} | {row['bytes_per_leaf_in_bundle']:.0f} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """Each round's appends per second, anchoring on and off, per backend."""
    for offset, (key, label) in enumerate((("with_anchoring", "anchoring on"), ("without_anchoring", "off"))):
        for index, row in enumerate(result["rows"]):
            rates = [round_["rate"] for round_ in row[key]["rounds"]]
            axes.scatter([index + offset * 0.2] * len(rates), rates, label=label if index == 0 else None)
    axes.set_xticks(range(len(result["rows"])), [row["backend"] for row in result["rows"]])
    axes.set_ylabel("appends/s, 16 connections, 1,000 instances")
    axes.set_title("Anchoring the service log: appends with it on and off")
    axes.legend()


if __name__ == "__main__":
    main(sys.argv[1:])
