"""Benchmark: the state stores beside Litestar's stores and cachelib on the same media (scenario 8).

One Python process runs get, set and compare-and-set for half a second each on
every store, with the same 200-byte value over 1,000 keys: ours (memory, file,
SQLite, Redis), Litestar's (memory, file, Redis; async, awaited one at a time
in one event loop) and cachelib's (SimpleCache, FileSystemCache, RedisCache;
both with room for 10,000 values, so that neither prunes on every set). Every
store is measured in each of four rounds, the stores of one medium side by
side and in alternate orders, and each figure is the median of its rounds.
Neither peer has a compare-and-set, so only ours report one. Then four
processes increment one counter by compare-and-set on each of our shared
stores, for two seconds: increments per second and refused attempts. Run:
``python -m bench.state``.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import write_result
from process_memory.config import Settings
from process_memory.registry import STATE_STORES
from process_memory.stores.base import StateStore, VersionConflict
from tests.services import RedisServer

VALUE = b"v" * 200
KEYS = [f"key-{n}" for n in range(1000)]
SECONDS = 0.5
CONTENDERS = 4


#: Every store is measured once per round, so that drift in the machine's speed falls on ours and
#: the peers alike; each figure is the median of its rounds.
ROUNDS = 4


def _rate(operation: Callable[[str], Any]) -> float:
    """Operations per second over SECONDS, cycling through KEYS."""
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < SECONDS:
        operation(KEYS[n % len(KEYS)])
        n += 1
    return n / (time.perf_counter() - started)


#: One round of a store: each operation's rate.
Round = Callable[[], dict[str, float]]


def _ours(store: StateStore) -> Round:
    """Fill KEYS; return a round of set, get and compare-and-set."""
    for key in KEYS:
        store.set(key, VALUE)

    def compare_and_set(key: str) -> None:
        current = store.get_versioned(key)
        store.set(key, VALUE, if_version=current[1] if current else None)

    return lambda: {"set": _rate(lambda k: store.set(k, VALUE)), "get": _rate(store.get), "cas": _rate(compare_and_set)}


def _cachelib(cache: Any) -> Round:
    """Fill KEYS; return a round of set and get (cachelib has no compare-and-set)."""
    for key in KEYS:
        cache.set(key, VALUE)
    return lambda: {"set": _rate(lambda k: cache.set(k, VALUE)), "get": _rate(cache.get)}


def _litestar(store: Any) -> Round:
    """Fill KEYS; return a round of set and get, awaited one at a time on one event loop for every round."""
    loop = asyncio.new_event_loop()

    async def rate(operation: Callable[[str], Any]) -> float:
        started, n = time.perf_counter(), 0
        while time.perf_counter() - started < SECONDS:
            await operation(KEYS[n % len(KEYS)])
            n += 1
        return n / (time.perf_counter() - started)

    async def fill() -> None:
        for key in KEYS:
            await store.set(key, VALUE)

    async def measure() -> dict[str, float]:
        return {"set": await rate(lambda k: store.set(k, VALUE)), "get": await rate(store.get)}

    loop.run_until_complete(fill())
    return lambda: loop.run_until_complete(measure())


def _rounds(stores: list[tuple[str, str, Round]]) -> list[dict[str, Any]]:
    """Every store's operations, measured in alternating rounds: medians, and every round."""
    measured: list[list[dict[str, float]]] = [[] for _ in stores]
    # The stores of one medium side by side, in one order and then the other: no store always goes first.
    order = sorted(range(len(stores)), key=lambda n: stores[n][1])
    for round_number in range(ROUNDS):
        for n in order if round_number % 2 == 0 else reversed(order):
            measured[n].append(stores[n][2]())
    rows = []
    for (name, medium, _), taken in zip(stores, measured, strict=True):
        medians = {operation: statistics.median(r[operation] for r in taken) for operation in taken[0]}
        rows.append({"store": name, "medium": medium, **medians, "rounds": taken})
    return rows


def _increment(backend: str, location: dict[str, str], ready: Any, go: Any, results: Any) -> None:
    store = STATE_STORES.create(backend, Settings(**location))
    done = refused = 0
    ready.release()
    go.wait()
    until = time.time() + 2
    while time.time() < until:
        current = store.get_versioned("counter")
        if current is None:
            raise RuntimeError("the counter is gone")
        try:
            store.set("counter", str(int(current[0]) + 1), if_version=current[1])
            done += 1
        except VersionConflict:
            refused += 1
    results.put((done, refused))


def _contention(backend: str, location: dict[str, str]) -> dict[str, float]:
    STATE_STORES.create(backend, Settings(**location)).set("counter", "0")
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    ready, go = context.Semaphore(0), context.Event()
    processes = [
        context.Process(target=_increment, args=(backend, location, ready, go, results)) for _ in range(CONTENDERS)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire(timeout=60)  # every process has its store open: they start together
    go.set()
    counts = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join()
    final = int(STATE_STORES.create(backend, Settings(**location)).get("counter") or b"0")
    done = sum(c[0] for c in counts)
    if final != done:
        raise RuntimeError(f"{backend}: {done} increments acknowledged, counter at {final}")
    return {"increments": done, "refused": sum(c[1] for c in counts)}


def main(argv: list[str]) -> None:
    """Measure every store; write bench/results/state.json."""
    from cachelib import FileSystemCache, RedisCache, SimpleCache
    from litestar.stores.file import FileStore as LitestarFile
    from litestar.stores.memory import MemoryStore as LitestarMemory
    from litestar.stores.redis import RedisStore as LitestarRedis

    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(Path(tmp) / "redis")
        redis.start()
        try:
            ours = {
                "memory": {},
                "file": {"state_file_dir": f"{tmp}/ours-file"},
                "sql": {"state_sql_url": f"sqlite:///{tmp}/state.sqlite3"},
                "redis": {"state_redis_url": redis.url},
            }
            medium = {"memory": "memory", "file": "file", "sql": "file", "redis": "redis"}
            stores = [
                (
                    f"process-memory {backend}",
                    medium[backend],
                    _ours(STATE_STORES.create(backend, Settings(**location))),
                )
                for backend, location in ours.items()
            ]
            host, port = redis.url.removeprefix("redis://").split("/")[0].split(":")
            stores += [
                ("cachelib SimpleCache", "memory", _cachelib(SimpleCache(threshold=10_000))),
                ("cachelib FileSystemCache", "file", _cachelib(FileSystemCache(f"{tmp}/cachelib", threshold=10_000))),
                ("cachelib RedisCache", "redis", _cachelib(RedisCache(host, int(port), db=1))),
                ("Litestar MemoryStore", "memory", _litestar(LitestarMemory())),
                ("Litestar FileStore", "file", _litestar(LitestarFile(Path(f"{tmp}/litestar")))),
                ("Litestar RedisStore", "redis", _litestar(LitestarRedis.with_client(redis.url))),
            ]
            rows = _rounds(stores)
            contention = {backend: _contention(backend, ours[backend]) for backend in ("file", "sql", "redis")}
        finally:
            redis.stop()
    for row in rows:
        print(json.dumps({k: round(v) if isinstance(v, float) else v for k, v in row.items() if k != "rounds"}))
    write_result("state", {"rows": rows, "contention": contention, "targets": targets(rows)})


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of our stores against the fastest peer on its medium, for get and for set."""
    found = []
    for row in rows:
        if not row["store"].startswith("process-memory"):
            continue
        peers = [r for r in rows if r["medium"] == row["medium"] and not r["store"].startswith("process-memory")]
        for operation in ("get", "set"):
            best = max(peers, key=lambda r: r[operation])
            found.append(
                {
                    "what": f"{row['store']} {operation} at least as fast as the fastest peer on {row['medium']}",
                    "figure": f"{row[operation]:,.0f}/s against {best['store']} {best[operation]:,.0f}/s",
                    "met": row[operation] >= best[operation],
                }
            )
    return found


def table(result: dict[str, Any]) -> str:
    """Operations per second per store, then the contended counter."""
    lines = ["| store | medium | get/s | set/s | compare-and-set/s |", "| --- | --- | ---: | ---: | ---: |"]
    for row in result["rows"]:
        cas = f"{row['cas']:,.0f}" if "cas" in row else "none"
        lines.append(f"| {row['store']} | {row['medium']} | {row['get']:,.0f} | {row['set']:,.0f} | {cas} |")
    lines += ["", f"{CONTENDERS} processes incrementing one counter by compare-and-set for two seconds:", ""]
    lines += ["| store | increments | refused attempts |", "| --- | ---: | ---: |"]
    for backend, counts in result["contention"].items():
        lines.append(f"| process-memory {backend} | {counts['increments']:,} | {counts['refused']:,} |")
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """get and set per second, every store, on a log scale."""
    rows = result["rows"]
    positions = range(len(rows))
    axes.bar([p - 0.2 for p in positions], [row["get"] for row in rows], 0.4, label="get")
    axes.bar([p + 0.2 for p in positions], [row["set"] for row in rows], 0.4, label="set")
    axes.set_xticks(list(positions), [row["store"].replace(" ", "\n", 1) for row in rows])
    axes.tick_params(axis="x", labelsize=7)
    axes.set_yscale("log")
    axes.set_ylabel("operations/s")
    axes.set_title("State stores beside Litestar's stores and cachelib")
    axes.legend()


if __name__ == "__main__":
    main(sys.argv[1:])
