"""Benchmark: appends through nginx to two app hosts against one, on one PostgreSQL (issue 31's first shape).

Two gunicorns stand for two app hosts, each on its own loopback address with the shipped worker count and a
``TMPDIR`` of its own; one durable PostgreSQL (fsync on) holds the history. One nginx names host A alone in its
upstream, another names A and B; wrk loads them in alternating rounds at 16 and 64 connections, so the ratio of
two hosts to one is measured in one run. On one machine both hosts share its cores with the database and wrk:
the figure says what a second host adds when the cores are not what runs out, and the note says which is.
Run: ``python -m bench.scale_out [--quick]``; it writes ``bench/results/scale_out.json``.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import WORKERS, bar_chart, summary, write_result, wrk
from tests.services import GunicornServer, NginxServer, PostgresServer

HOST_ADDRESSES = ("127.0.0.2", "127.0.0.3")
MAX_BODY = 64 * 1024 * 1024


@contextlib.contextmanager
def hosts_behind_nginx(database_url: str, root: Path) -> Iterator[dict[str, str]]:
    """Start both app hosts, then one nginx in front of host A and one in front of both; yield their URLs."""
    env = {"PROCESS_MEMORY_DATABASE_URL": database_url, "PROCESS_MEMORY_AUTH": "off"}
    env |= {"PROCESS_MEMORY_STATE_BACKEND": "memory"}
    hosts = []
    for address in HOST_ADDRESSES:
        home = root / address
        (home / "tmp").mkdir(parents=True)
        hosts.append(GunicornServer(env | {"TMPDIR": str(home / "tmp")}, WORKERS, home, args=(), host=address))
    fronts: dict[str, NginxServer] = {}
    try:
        for host in hosts:
            host.start()
        upstreams = [f"{host.host}:{host.port}" for host in hosts]
        fronts = {"one host": NginxServer(root / "one", upstreams[:1], MAX_BODY)}
        fronts["two hosts"] = NginxServer(root / "two", upstreams, MAX_BODY)
        for front in fronts.values():
            front.start()
        yield {name: front.url for name, front in fronts.items()}
    finally:
        for front in fronts.values():
            front.stop()
        for host in hosts:
            host.stop()


def measure(urls: dict[str, str], connections: int, rounds: int, seconds: int) -> list[dict[str, Any]]:
    """One row per shape at this connection count, from alternating rounds."""
    loads: dict[str, list[Any]] = {shape: [] for shape in urls}
    for _ in range(rounds):
        for shape, url in urls.items():
            loads[shape].append(wrk(url, connections, seconds, "append", BENCH_PREFIX=uuid.uuid4().hex[:8]))
    return [{"shape": shape, "connections": connections} | summary(measured) for shape, measured in loads.items()]


def main(argv: list[str]) -> None:
    """Measure; print and write bench/results/scale_out.json."""
    quick = "--quick" in argv
    postgres = PostgresServer(fsync=True)
    postgres.create()
    rows: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, hosts_behind_nginx(postgres.url, Path(tmp)) as urls:
            for url in urls.values():
                wrk(url, 16, 1, "append", BENCH_PREFIX="warm")  # every worker opens its connections
            for connections in (16,) if quick else (16, 64):
                rows += measure(urls, connections, 2 if quick else 3, 3)
    finally:
        postgres.destroy()
    for row in rows:
        print(f"{row['shape']:10} {row['connections']:3} connections: {row['rate']:6.0f}/s, p99 {row['p99_ms']:.0f} ms")
    write_result("scale_out", {"quick": quick, "workers_per_host": WORKERS, "rows": rows})


def table(result: dict[str, Any]) -> str:
    """Appends per second by shape and connections, and two hosts' ratio to one."""
    rate = {(row["shape"], row["connections"]): row for row in result["rows"]}
    lines = [
        "| connections | one host | two hosts | two ÷ one | p99 one / two (ms) | errors (non-2xx + socket) |",
        "|---|---|---|---|---|---|",
    ]
    for connections in sorted({row["connections"] for row in result["rows"]}):
        one, two = rate["one host", connections], rate["two hosts", connections]
        errors = sum(row["non_2xx"] + row["socket_errors"] for row in (one, two))
        lines.append(
            f"| {connections} | {one['rate']:.0f}/s | {two['rate']:.0f}/s | {two['rate'] / one['rate']:.2f}× "
            f"| {one['p99_ms']:.0f} / {two['p99_ms']:.0f} | {errors} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """Bars of appends per second, one host beside two, at each connection count."""
    rows = result["rows"]
    labels = [f"{row['shape']}\n{row['connections']} connections" for row in rows]
    bar_chart(axes, labels, [row["rate"] for row in rows], "appends per second")


if __name__ == "__main__":
    main(sys.argv[1:])
