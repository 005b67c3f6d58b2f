"""Benchmark: 1 KB appends under load (scenario 1) and one hot instance (scenario 2), per backend.

Load comes from wrk (bench/wrk/append.lua) over 100 instances, through the
shipped gunicorn.conf.py and through nginx in front of it. Two references are
measured in the same run:

- the HTTP ceiling: ``GET /healthz`` on the same stack with the same
  connections, in rounds alternating with the appends';
- the raw store: the same 1 KB rows inserted, one commit each, by one Python
  process with the same driver (sqlite3, psycopg, pymongo).

The hot-instance rounds send every append to one instance from 1, 8 and 32
connections. Run: ``python -m bench.appends [--quick]`` (both are in `make bench`;
`make bench-quick` runs the quick form, SQLite through gunicorn only).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness import Backend, each_backend, merged_rows, stack, summary, write_result, wrk

#: The data of every append: the same 1 KB as bench/wrk/append.lua sends.
ROW = json.dumps({"n": 0, "pad": "x" * 1000})
RAW_SECONDS = 2.0
#: The raw store's table: the entries table's key and a 1 KB text, nothing else.
RAW_TABLE = "CREATE TABLE raw_{batch} (instance_id TEXT, seq BIGINT, data TEXT, PRIMARY KEY (instance_id, seq))"


def _rows(start: int, batch: int) -> list[tuple[str, int, str]]:
    return [(f"i{n % 100}", n, ROW) for n in range(start, start + batch)]


def _raw_sqlite(url: str, batch: int = 1) -> float:
    import sqlite3

    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(RAW_TABLE.format(batch=batch))

    def insert(start: int) -> None:
        with conn:  # one transaction, one commit
            conn.executemany(f"INSERT INTO raw_{batch} VALUES (?, ?, ?)", _rows(start, batch))

    try:
        return _rate(insert, batch)
    finally:
        conn.close()


def _raw_postgresql(url: str, batch: int = 1) -> float:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            f"CREATE TABLE raw_{batch} (instance_id TEXT, seq BIGINT, data TEXT, PRIMARY KEY (instance_id, seq))"
        )
        conn.commit()

        def insert(start: int) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(f"INSERT INTO raw_{batch} VALUES (%s, %s, %s)", _rows(start, batch))
            conn.commit()

        return _rate(insert, batch)


def _raw_ferretdb(uri: str, batch: int = 1) -> float:
    import pymongo

    client: Any = pymongo.MongoClient(uri)
    try:
        raw = client["bench_raw"][f"raw_{batch}"]
        return _rate(
            lambda start: raw.insert_many([{"_id": f"{i}-{n}", "data": row} for i, n, row in _rows(start, batch)]),
            batch,
        )
    finally:
        client.close()


def _rate(insert: Any, batch: int) -> float:
    """Rows inserted per second, ``batch`` rows per commit, for RAW_SECONDS."""
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < RAW_SECONDS:
        insert(n)
        n += batch
    return n / (time.perf_counter() - started)


RAW = {"sqlite": _raw_sqlite, "postgresql": _raw_postgresql, "ferretdb": _raw_ferretdb, "ferretdb-pg": _raw_ferretdb}


def _appends_and_ceiling(url: str, connections: int, rounds: int, seconds: int) -> dict[str, Any]:
    appends, ceiling = [], []
    for _ in range(rounds):  # alternating, so that drift in the machine's speed falls on both
        ceiling.append(wrk(f"{url}/healthz", connections, seconds))
        appends.append(wrk(url, connections, seconds, "append", BENCH_PREFIX=uuid.uuid4().hex[:8]))
    measured, reference = summary(appends), summary(ceiling)
    return measured | {"ceiling": reference["rate"], "ceiling_rounds": reference["rounds"]}


def _hot(url: str, writers: int, rounds: int, seconds: int) -> dict[str, Any]:
    iid = f"hot-{uuid.uuid4().hex[:8]}"
    loads = [wrk(url, writers, seconds, "append", BENCH_PREFIX=iid, BENCH_INSTANCES="1") for _ in range(rounds)]
    return summary(loads)


def measure(store: Backend, workdir: Path, quick: bool) -> list[dict[str, Any]]:
    """Every row of one backend: appends per stack and connection count, then the hot instance."""
    rounds, seconds = 3, 2
    raw = RAW[store.name](store.url)
    rows = []
    for through_nginx in (False,) if quick else (False, True):
        with stack(store, workdir, through_nginx) as served:
            url = served.url
            wrk(url, 16, 1, "append", BENCH_PREFIX="warm")  # every worker opens its connections
            for connections in (16,) if quick else (16, 64):
                row = _appends_and_ceiling(url, connections, rounds, seconds)
                rows.append(
                    {"scenario": "appends", "backend": store.name, "stack": "nginx" if through_nginx else "gunicorn"}
                    | {"connections": connections, "raw_store": raw}
                    | row
                )
            if not through_nginx:
                for writers in (1, 32) if quick else (1, 8, 32):
                    hot = _hot(url, writers, 2, seconds)
                    rows.append({"scenario": "hot", "backend": store.name, "writers": writers} | hot)
    return rows


_NONE_COMPLETED = "a round in which no request completed (each took longer than the round)"


def _completed(row: dict[str, Any]) -> bool:
    """Whether every round completed requests: wrk counts no latency, and no error, for one still running."""
    return all(load["requests"] > 0 for load in row["rounds"])


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's "done when" lines this scenario measures, each met or not with its figure."""
    found = []
    for row in rows:
        if row["scenario"] == "appends" and row["stack"] == "gunicorn" and row["connections"] == 16:
            goal = 0.25 if row["backend"].startswith("ferretdb") else 0.5
            ratio = row["rate"] / row["ceiling"]
            errors = row["non_2xx"] + row["socket_errors"]  # answered quickly, errors would make a rate too
            found.append(
                {
                    "what": f"{row['backend']}: appends at 16 connections reach {goal}x the HTTP ceiling, no error",
                    "figure": f"{ratio:.2f}x ({row['rate']:.0f}/s against {row['ceiling']:.0f}/s), {errors} errors",
                    "met": ratio >= goal and errors == 0,
                }
            )
        if row["scenario"] == "appends" and row["connections"] == 64:
            errors = row["non_2xx"] + row["socket_errors"]
            figure = f"{errors} errors, p99 {row['p99_ms']:.0f} ms" if _completed(row) else _NONE_COMPLETED
            found.append(
                {
                    "what": f"{row['backend']} via {row['stack']}: 64 connections, no error, p99 under 1 s",
                    "figure": figure,
                    "met": _completed(row) and errors == 0 and row["p99_ms"] < 1000,
                }
            )
    hot = {(row["backend"], row["writers"]): row for row in rows if row["scenario"] == "hot"}
    for name in dict.fromkeys(name for name, _ in hot):
        one, many = hot[(name, 1)], hot[(name, 32)]
        completed = _completed(one) and _completed(many)
        found.append(
            {
                "what": f"{name}: one instance, 32 writers at least as fast as 1, p99 under 1 s",
                "figure": f"{many['rate']:.0f}/s against {one['rate']:.0f}/s, p99 {many['p99_ms']:.0f} ms"
                if completed
                else _NONE_COMPLETED,
                "met": completed and many["rate"] >= one["rate"] and many["p99_ms"] < 1000,
            }
        )
    return found


def main(argv: list[str]) -> None:
    """Measure every backend (SQLite only with --quick), print the rows, write bench/results/appends.json."""
    quick = "--quick" in argv
    rows: list[dict[str, Any]] = []
    for store, workdir in each_backend(argv):
        rows += measure(store, workdir, quick)
    for row in rows:
        shown = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items() if "rounds" not in k}
        print(json.dumps(shown))
    rows = merged_rows("appends", rows, argv)
    write_result("appends", {"quick": quick, "rows": rows, "targets": targets(rows)})


if __name__ == "__main__":
    main(sys.argv[1:])


def table(result: dict[str, Any]) -> str:
    """The scenario's rows as Markdown tables, each figure beside its reference."""
    lines = [
        "| backend | stack | connections | appends/s | p50 ms | p99 ms | errors | ceiling/s | × ceiling "
        "| × raw store |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        if row["scenario"] == "appends":
            lines.append(
                f"| {row['backend']} | {row['stack']} | {row['connections']} | {row['rate']:.0f} "
                f"| {row['p50_ms']:.0f} | {row['p99_ms']:.0f} | {row['non_2xx'] + row['socket_errors']} "
                f"| {row['ceiling']:.0f} | {row['rate'] / row['ceiling']:.2f} | {row['rate'] / row['raw_store']:.2f} |"
            )
    lines += ["", "One hot instance (every append to the same instance), through gunicorn:", ""]
    lines += [
        "| backend | writers | appends/s | p50 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        if row["scenario"] == "hot":
            lines.append(
                f"| {row['backend']} | {row['writers']} | {row['rate']:.0f} | {row['p50_ms']:.0f} "
                f"| {row['p99_ms']:.0f} | {row['non_2xx'] + row['socket_errors']} |"
            )
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """Appends as a multiple of the HTTP ceiling, per backend, stack and connection count."""
    rows = [row for row in result["rows"] if row["scenario"] == "appends"]
    labels = [f"{row['backend']}\n{row['stack']}\n{row['connections']} conns" for row in rows]
    colours = {"sqlite": "#4477aa", "postgresql": "#228833", "ferretdb": "#aa3377", "ferretdb-pg": "#ee6677"}
    axes.bar(labels, [row["rate"] / row["ceiling"] for row in rows], color=[colours[row["backend"]] for row in rows])
    axes.tick_params(axis="x", labelsize=8)
    for goal, style in ((0.5, "--"), (0.25, ":")):
        axes.axhline(goal, color="#cc3311", linestyle=style, linewidth=1, label=f"goal {goal}×")
    axes.set_ylabel("appends/s ÷ GET /healthz/s")
    axes.set_title("1 KB appends as a multiple of the HTTP ceiling")
    axes.legend()
