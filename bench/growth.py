"""Benchmark: one instance growing to 1k, 100k and 1M entries (scenario 5).

At each size wrk measures appends to the instance, its head and a page of 100
from its middle, in rounds alternating with the HTTP ceiling (``GET
/healthz``) on the same stack; ``GET …/verify`` is timed once (up to
VERIFY_UP_TO entries: beyond, one verify outlasts the scenario's budget, and the
time per 100k is the figure asked for). The instance grows between sizes
through the history service itself, in batches, without HTTP: the same
canonical JSON, chain and stores as an append, at the speed of the service.
A read that alone takes longer than SLOW_READ_SECONDS is timed once instead.

FerretDB's SQLite handler grows to 10k only: it pushes down nothing but ``_id``
lookups, and even those scan the collection (docs/storage.md), so a 1M-entry
instance would take the run's whole budget to load and read. Its PostgreSQL
handler scans too, but faster: it grows to 1M like the SQL backends.
Run: ``python -m bench.growth [--quick] [--backend NAME]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import requests

from bench.harness import Backend, each_backend, merged_rows, stack, summary, write_result, wrk
from process_memory import create_app
from process_memory.config import Settings
from process_memory.entry import NewEntry
from process_memory.services import services

SIZES = (1_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 100_000)
FERRETDB_SQLITE_SIZES = (1_000, 10_000)
VERIFY_UP_TO = 100_000
#: A read slower than this alone is timed once instead of loaded from CONNECTIONS connections: they would outlast
#: wrk's 10 s timeout and leave the engine scanning after the round (FerretDB 1.x from 100k entries on).
SLOW_READ_SECONDS = 2.0
#: Entries per service call while the instance grows.
BATCH = 1_000
CONNECTIONS = 16
#: append.lua names its instances "<prefix>-<n>"; with one instance, n is 0.
PREFIX = "growth"
INSTANCE = f"{PREFIX}-0"


def grow(store: Backend, have: int, to: int) -> None:
    """Append entries of about 100 bytes to INSTANCE until it holds ``to``, through the history service."""
    app = create_app(Settings.from_env(store.env, dotenv_path=None))
    service = services(app).history
    for start in range(have, to, BATCH):
        entries = [NewEntry(type="row", data={"n": n, "pad": "x" * 80}) for n in range(start, min(to, start + BATCH))]
        service.appender.append_entries(INSTANCE, entries)
    service.store.close()


def _reads(url: str, path: str, rounds: int) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    status = requests.get(f"{url}{path}", timeout=900).status_code
    took = time.perf_counter() - started
    if took > SLOW_READ_SECONDS or status != 200:  # a 503: the database did not answer within its timeout
        once = {"rate": 1 / took if status == 200 else 0.0, "p50_ms": took * 1000, "p99_ms": took * 1000}
        once |= {"non_2xx": int(status != 200), "socket_errors": 0, "rounds": [], "timed_once": True, "status": status}
        return once, summary([wrk(f"{url}/healthz", CONNECTIONS, 2)])["rate"]
    loads, ceiling = [], []
    for _ in range(rounds):
        ceiling.append(wrk(f"{url}/healthz", CONNECTIONS, 2))
        loads.append(wrk(url, CONNECTIONS, 2, "request", BENCH_PATH=path, BENCH_IDS=INSTANCE))
    return summary(loads) | {"alone_ms": took * 1000}, summary(ceiling)["rate"]


def measure_at(url: str, size: int, rounds: int) -> dict[str, Any]:
    """Appends, head and page rates (each beside its ceiling) at ``size`` entries, and verify time per 100k."""
    row: dict[str, Any] = {"size": size}
    head, row["head_ceiling"] = _reads(url, f"/api/v1/instances/{INSTANCE}/head", rounds)
    page, row["page_ceiling"] = _reads(url, f"/api/v1/instances/{INSTANCE}/history?limit=100&after={size // 2}", rounds)
    appends = summary([wrk(url, CONNECTIONS, 2, "append", BENCH_PREFIX=PREFIX, BENCH_INSTANCES="1")])
    row |= {"head": head, "page": page, "append": appends}
    if size <= VERIFY_UP_TO:
        started = time.perf_counter()
        answer = requests.get(f"{url}/api/v1/instances/{INSTANCE}/verify", timeout=600)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:  # FerretDB's scan can outlast the database timeout: a finding, reported
            row["verify_status"] = answer.status_code
        else:
            checked = answer.json()["checked"]
            row |= {"verify_seconds": elapsed, "verified": checked, "verify_per_100k": elapsed * 100_000 / checked}
    return row


def measure(store: Backend, workdir: Path, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Grow the instance through ``sizes``, measuring at each."""
    rows, have = [], 0
    with stack(store, workdir) as served:
        for size in sizes:
            started = time.perf_counter()
            grow(store, have, size)
            load_seconds = time.perf_counter() - started
            row = measure_at(served.url, size, rounds=2)
            rows.append({"backend": store.name, "load_seconds": load_seconds} | row)
            have = size + sum(load["requests"] for load in row["append"]["rounds"])  # the appends grew it too
            print(
                f"{store.name:10} {size:>9,} head {row['head']['rate']:6.0f}/s page {row['page']['rate']:6.0f}/s "
                f"append {row['append']['rate']:5.0f}/s verify/100k {row.get('verify_per_100k', -1):6.1f} s "
                f"(loaded in {load_seconds:.0f} s)",
                flush=True,
            )
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Head and page reads stay within 1.5x from the smallest size to the largest, per backend."""
    found = []
    for name in dict.fromkeys(row["backend"] for row in rows):
        mine = sorted((row for row in rows if row["backend"] == name), key=lambda row: row["size"])
        small, large = mine[0], mine[-1]
        for read in ("head", "page"):
            slowdown = small[read]["rate"] / large[read]["rate"] if large[read]["rate"] else float("inf")
            found.append(
                {
                    "what": f"{name}: {read} reads within 1.5x from {small['size']:,} to 1,000,000 entries",
                    "figure": ("" if large["size"] >= 1_000_000 else f"measured up to {large['size']:,} only: ")
                    + f"{large[read]['rate']:.0f}/s at {large['size']:,} against {small[read]['rate']:.0f}/s "
                    f"at {small['size']:,} ({slowdown:.2f}x the time)",
                    "met": large["size"] >= 1_000_000 and slowdown <= 1.5,
                }
            )
    return found


def main(argv: list[str]) -> None:
    """Measure each backend (SQLite to 100k with --quick); write bench/results/growth.json."""
    quick = "--quick" in argv
    rows: list[dict[str, Any]] = []
    for store, workdir in each_backend(argv):
        sizes = FERRETDB_SQLITE_SIZES if store.name == "ferretdb" else QUICK_SIZES if quick else SIZES
        rows += measure(store, workdir, sizes)
        # After each backend: a later one failing keeps what the earlier ones measured.
        merged = merged_rows("growth", rows, argv)
        write_result("growth", {"quick": quick, "rows": merged, "targets": targets(merged)})


def table(result: dict[str, Any]) -> str:
    """Each size's rates beside their ceilings, and the verify time per 100k entries."""
    lines = [
        "| backend | entries | head/s | × ceiling | page/s | × ceiling | appends/s | append p99 ms | verify s/100k "
        "| loaded in s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        verify = f"{row['verify_per_100k']:.1f}" if "verify_per_100k" in row else "not run"
        if "verify_status" in row:
            verify = f"answered {row['verify_status']}"
        head, page = (_rate(row[read]) for read in ("head", "page"))
        lines.append(
            f"| {row['backend']} | {row['size']:,} | {head} "
            f"| {row['head']['rate'] / row['head_ceiling']:.3f} | {page} "
            f"| {row['page']['rate'] / row['page_ceiling']:.3f} | {row['append']['rate']:.0f} "
            f"| {row['append']['p99_ms']:.0f} | {verify} | {row['load_seconds']:.0f} |"
        )
    return "\n".join(lines)


def _rate(read: dict[str, Any]) -> str:
    if read.get("timed_once"):
        answered = "" if read.get("status", 200) == 200 else f", answered {read['status']}"
        return f"one took {read['p50_ms'] / 1000:.1f} s{answered}"
    if not read["rate"] and "alone_ms" in read:  # none ended within wrk's timeout, CONNECTIONS at once
        return f"0 (one alone took {read['alone_ms'] / 1000:.1f} s)"
    return f"{read['rate']:.0f}"


def chart(result: dict[str, Any], axes: Any) -> None:
    """Head and page reads per second against the instance's size, per backend (log scale)."""
    for name in dict.fromkeys(row["backend"] for row in result["rows"]):
        mine = sorted((row for row in result["rows"] if row["backend"] == name), key=lambda row: row["size"])
        sizes = [row["size"] for row in mine]
        axes.plot(sizes, [row["head"]["rate"] for row in mine], marker="o", label=f"{name} head")
        axes.plot(sizes, [row["page"]["rate"] for row in mine], marker="s", linestyle="--", label=f"{name} page")
    axes.set_xscale("log")
    axes.set_xlabel("entries in the instance")
    axes.set_ylabel("reads/s")
    axes.set_title("Head and a page of 100 as one instance grows")
    axes.legend()


if __name__ == "__main__":
    main(sys.argv[1:])
