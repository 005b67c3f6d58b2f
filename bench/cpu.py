"""Where an append's CPU goes: gunicorn's workers, PostgreSQL, FerretDB and nginx, from /proc while wrk appends.

Each backend is served as ``bench.appends`` serves it; wrk appends 1 KB entries from CONNECTIONS connections for
SECONDS, and the CPU time every process used meanwhile (user and system, from ``/proc/<pid>/stat``) is summed by
what the process is. The figure is milliseconds of CPU per append: on this machine's cores, 1,000 divided by the
total is the most appends a second the stack could take, whatever the service did. Linux only.
Run: ``python -m bench.cpu [--backend NAME]...`` (default ferretdb-pg and sqlite); prints one line per backend.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

from bench.harness import each_backend, stack, wrk

CONNECTIONS = 16
SECONDS = 10
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """Every process's command line and the CPU seconds it has used."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        found[int(entry.name)] = (command, (int(fields[11]) + int(fields[12])) / _TICKS)
    return found


def kind_of(command: str) -> str:
    """What a process is, by its command line (PostgreSQL's backends name their database, which may be
    ferretdb's)."""
    if command.startswith("postgres"):
        return "postgres"
    return next((kind for kind in ("gunicorn", "ferretdb", "nginx", "wrk") if kind in command), "other")


def main(argv: list[str]) -> None:
    """Print, per backend, the appends per second and the CPU milliseconds per append of each kind of process."""
    for store, workdir in each_backend(
        argv if "--backend" in argv else ["--backend", "ferretdb-pg", "--backend", "sqlite"]
    ):
        with stack(store, workdir) as served:
            wrk(served.url, CONNECTIONS, 2, "append", BENCH_PREFIX="warm")
            before, started = cpu_seconds(), time.monotonic()
            load = wrk(served.url, CONNECTIONS, SECONDS, "append", BENCH_PREFIX=uuid.uuid4().hex[:8])
            after, elapsed = cpu_seconds(), time.monotonic() - started
        used: dict[str, float] = {}
        for pid, (command, seconds) in after.items():
            used[kind_of(command)] = used.get(kind_of(command), 0.0) + seconds - before.get(pid, (command, 0.0))[1]
        per_append = {kind: 1000 * seconds / load.requests for kind, seconds in sorted(used.items()) if seconds > 0}
        shown = ", ".join(f"{kind} {ms:.2f}" for kind, ms in per_append.items())
        print(f"{store.name}: {load.requests / elapsed:.0f} appends/s; CPU ms per append: {shown}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
