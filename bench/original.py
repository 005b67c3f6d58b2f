"""Benchmark: ours beside the original service (onsplatform/process_memory) on the same MongoDB-wire engine:
small commits and head reads, through the platform's own routes (``POST /{id}/commit``, ``GET /{id}/head``).

The original's source is public, but this project neither vendors nor builds it: the operator provides a checkout of
each branch, with its dependencies installed in a ``.venv`` inside it, and names them::

    PM_ORIGINAL_CHECKOUTS="fix_reprocess=/srv/pm-fix master=/srv/pm-master" make bench-original

docs/compatibility.md ("Measured beside the original") says how to make the checkouts. The original connects to
the engine its own way: fix_reprocess, given ``HOST=localhost``, to ``localhost:27017`` with mongoengine, so the
engine is started there for both; master always asks for TLS and a replica set named by ``DOCDB_REPLICASET``,
which FerretDB 1.x does not announce, so on this engine master's commits fail and its row says so.

Both services run at once on the engine, in databases of their own, each with the same gunicorn worker count; wrk
loads one and then the other in alternating rounds, so that each figure is a ratio measured in the same run.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from bench.harness import (
    FERRETDB_BACKENDS,
    WORKERS,
    Backend,
    backend,
    bar_chart,
    stack,
    summary,
    write_result,
    wrk,
)
from tests.memories import memory, read_by_query
from tests.services import free_port, http_ok, port_open, stop_process, wait_until

#: What docs/benchmarks.md says while this has not been measured.
HOW_TO_RUN = (
    "it needs the operator's checkouts of the original's branches: "
    '`PM_ORIGINAL_CHECKOUTS="fix_reprocess=DIR master=DIR" make bench-original` (docs/compatibility.md)'
)
#: Where fix_reprocess connects with HOST=localhost: mongoengine's default.
ORIGINAL_ENGINE_PORT = 27017
INSTANCES = 20
CONNECTIONS = 16
#: Each workload: (name, method, path); "{id}" is one of the loaded instances, at random.
WORKLOADS = [("small commits", "POST", "/{id}/commit"), ("head reads", "GET", "/{id}/head")]
#: What issue 29 asks of ours against each branch: (workload, branch) -> the least ratio.
BRANCHES = ("master", "fix_reprocess")
TARGETS = {
    ("small commits", "master"): 2.0,
    ("small commits", "fix_reprocess"): 10.0,
    ("head reads", "master"): 10.0,
    ("head reads", "fix_reprocess"): 10.0,
}


def checkouts(spec: str) -> dict[str, Path]:
    """The branches and checkouts named by ``PM_ORIGINAL_CHECKOUTS`` ("name=path name=path")."""
    found = {}
    for item in spec.split():
        name, sep, path = item.partition("=")
        if not sep or name not in BRANCHES or not path:
            raise SystemExit(f"PM_ORIGINAL_CHECKOUTS: expected master=path or fix_reprocess=path, got {item!r}")
        found[name] = Path(path).expanduser().resolve()
    return found


@contextlib.contextmanager
def original(checkout: Path, workdir: Path) -> Iterator[str]:
    """Serve a checkout of the original with its own Python (``.venv`` in it) and gunicorn, as its entrypoint
    does, on a loopback port, connected to the engine on localhost:27017; yield its base URL."""
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} not found: install the original's dependencies there (docs/compatibility.md)")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "localhost", "DATABASE_NAME": "pm_original"}
    command = [str(python), "-m", "gunicorn", "wsgi:process_memory_app", f"--workers={WORKERS}"]
    with open(workdir / f"original-{port}.log", "ab") as log:
        process = subprocess.Popen(
            [*command, f"--bind=127.0.0.1:{port}", "--timeout=60"], cwd=checkout, env=env, stdout=log, stderr=log
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{url}/hello") or process.poll() is not None, 60, "the original's gunicorn")
        if process.poll() is not None:
            raise RuntimeError(f"the original's gunicorn exited with {process.returncode}; see {log.name}")
        yield url
    finally:
        stop_process(process, timeout=30)


def commit_body(iid: str) -> dict[str, Any]:
    """A small commit, as an app of the platform posts it: its event and the three records it read."""
    return memory(iid, dataset={"entities": {"usina": [read_by_query(f"U{n}") for n in range(3)]}})


def load(url: str) -> list[str]:
    """Give INSTANCES instances one commit each, in the same way on either service; return their ids. A commit
    the service refuses raises, naming its status (the original's body may say why, ours never holds payloads)."""
    ids = [str(uuid.uuid4()) for _ in range(INSTANCES)]
    with requests.Session() as session:
        for iid in ids:
            answer = session.post(f"{url}/{iid}/commit", json=commit_body(iid), timeout=60)
            if answer.status_code >= 300:
                raise RuntimeError(f"a commit was answered {answer.status_code}")
    return ids


def measure(urls: dict[str, str], ids: dict[str, list[str]], rounds: int, seconds: int) -> list[dict[str, Any]]:
    """One row per (service, workload): wrk rounds over the services in turn, so that each round of ours sits
    between rounds of the original's."""
    rows = []
    for workload, method, path in WORKLOADS:
        body = json.dumps(commit_body(str(uuid.uuid4()))) if method == "POST" else None
        loads: dict[str, list[Any]] = {service: [] for service in urls}
        for _ in range(rounds):
            for service, url in urls.items():
                env = {"BENCH_METHOD": method, "BENCH_PATH": path, "BENCH_IDS": ",".join(ids[service])}
                loads[service].append(
                    wrk(url, CONNECTIONS, seconds, "request", **env | ({"BENCH_BODY": body} if body else {}))
                )
        rows += [{"service": service, "workload": workload} | summary(measured) for service, measured in loads.items()]
    return rows


def compare(engine: Backend, branches: dict[str, Path], workdir: Path, rounds: int, seconds: int) -> list[dict]:
    """Ours and each branch on one engine, each branch in turn beside ours; one row per (service, workload) with
    the engine and the branch, or one saying why a branch could not be measured."""
    rows: list[dict[str, Any]] = []
    ours_env = Backend(engine.name, engine.env | {"DOCDB_DATABASE_NAME": "pm_ours"}, engine.url)
    with stack(ours_env, workdir) as ours:
        ours_ids = load(ours.url)
        for branch, checkout in branches.items():
            where = {"engine": engine.name, "branch": branch}
            try:
                with original(checkout, workdir) as url:
                    ids = {"ours": ours_ids, branch: load(url)}
                    measured = measure({"ours": ours.url, branch: url}, ids, rounds, seconds)
            except RuntimeError as error:
                rows.append(where | {"error": str(error)})
                continue
            rows += [where | row for row in measured]
    return rows


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 29's targets, one per (engine, branch, workload): ours against the branch, or why it was not measured."""
    rates = {(r["engine"], r["branch"], r["service"], r["workload"]): r for r in rows if "error" not in r}
    found = []
    for engine, branch in dict.fromkeys((row["engine"], row["branch"]) for row in rows):
        for workload, _, _ in WORKLOADS:
            what = f"{engine}: ours ≥ {TARGETS[workload, branch]:g}× {branch} on {workload}"
            ours, theirs = rates.get((engine, branch, "ours", workload)), rates.get((engine, branch, branch, workload))
            if ours is None or theirs is None:
                error = next(row["error"] for row in rows if (row["engine"], row["branch"]) == (engine, branch))
                found.append({"what": what, "figure": f"not measured: {error}", "met": False})
                continue
            ratio = ours["rate"] / theirs["rate"] if theirs["rate"] else float("inf")
            figure = f"{ratio:.1f}× ({ours['rate']:.0f}/s against {theirs['rate']:.0f}/s)"
            met = ratio >= TARGETS[workload, branch] and ours["non_2xx"] + ours["socket_errors"] == 0
            found.append({"what": what, "figure": figure, "met": met})
    return found


def main(argv: list[str]) -> None:
    """Measure each named checkout beside ours on both FerretDB handlers; write bench/results/original.json."""
    spec = os.environ.get("PM_ORIGINAL_CHECKOUTS", "")
    if not spec:
        raise SystemExit(
            "set PM_ORIGINAL_CHECKOUTS to name=path pairs of the original's checkouts (docs/compatibility.md)"
        )
    if port_open(ORIGINAL_ENGINE_PORT):
        raise SystemExit(f"port {ORIGINAL_ENGINE_PORT} is taken: the original connects there, so the engine must")
    branches = checkouts(spec)
    quick = "--quick" in argv
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in FERRETDB_BACKENDS:
            workdir = Path(tmp) / name
            workdir.mkdir()
            with backend(name, workdir, port=ORIGINAL_ENGINE_PORT) as engine:
                rows += compare(engine, branches, workdir, 1 if quick else 3, 2 if quick else 5)
    for row in rows:
        if "error" in row:
            print(f"{row['engine']:12} {row['branch']:14} not measured: {row['error']}")
        else:
            print(
                f"{row['engine']:12} {row['branch']:14} {row['service']:14} {row['workload']:14} {row['rate']:7.0f}/s"
            )
    write_result("original", {"quick": quick, "rows": rows, "targets": targets(rows)})


def table(result: dict[str, Any]) -> str:
    """Rates of ours and of each branch, by engine and workload."""
    lines = [
        "| engine | branch | service | workload | per second | p99 ms | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        if "error" in row:
            lines.append(
                f"| {row['engine']} | {row['branch']} | {row['branch']} | all | not measured: {row['error']} | | |"
            )
            continue
        lines.append(
            f"| {row['engine']} | {row['branch']} | {row['service']} | {row['workload']} | {row['rate']:.0f} "
            f"| {row['p99_ms']:.0f} | {row['non_2xx']} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], axes: Any) -> None:
    """Bars of requests per second, ours beside each branch."""
    measured = [row for row in result["rows"] if "error" not in row]
    labels = [f"{r['engine']}\n{r['branch']}\n{r['service']}\n{r['workload']}" for r in measured]
    bar_chart(axes, labels, [row["rate"] for row in measured], "requests per second")


if __name__ == "__main__":
    main(sys.argv[1:])
