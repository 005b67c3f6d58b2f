"""What every benchmark scenario shares: the stacks it starts, wrk as the load, rounds and medians, the results file.

Every figure a scenario reports is a ratio to a reference measured in the same
run, on the same machine, so that the machine's speed (and whatever else it is
doing) cancels out as far as it can. Each scenario writes
``bench/results/<name>.json``; ``python -m bench.report`` turns them all into
docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.services import FerretDBServer, GunicornServer, NginxServer, PostgresServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WRK_SCRIPTS = ROOT / "bench" / "wrk"
#: The history backends of the append scenarios, in the order they are reported.
BACKENDS = ("sqlite", "postgresql", "ferretdb", "ferretdb-pg")
#: The MongoDB-wire ones: FerretDB 1.x on its SQLite handler and on its PostgreSQL handler.
FERRETDB_BACKENDS = ("ferretdb", "ferretdb-pg")
#: The shipped gunicorn.conf.py's worker count on this machine's cores (min(2 * cores + 1, 8)).
WORKERS = min(2 * (os.cpu_count() or 1) + 1, 8)


@dataclass(frozen=True)
class Load:
    """One wrk run, as bench/wrk/report.lua prints it."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(url: str, connections: int, seconds: int, script: str | None = None, **env: str) -> Load:
    """Load ``url`` from wrk, bounded in time (and each request by a 10 s timeout); return its summary.

    ``script`` names bench/wrk/<script>.lua, which shapes the requests; ``env`` reaches it through os.getenv.
    """
    return Load(**json.loads(_run_wrk(url, connections, seconds, [script] if script else [], env)[-1]))


def wrk_per_second(url: str, connections: int, seconds: int, script: str, **env: str) -> tuple[Load, dict[int, int]]:
    """As ``wrk``, and also the 2xx answers of each second of the clock (by ``time.time()``'s whole seconds)."""
    lines = _run_wrk(url, connections, seconds, [script, "per_second"], env)
    answered = json.loads(lines[-2])["per_second"]
    return Load(**json.loads(lines[-1])), {int(second): count for second, count in answered.items()}


def _run_wrk(url: str, connections: int, seconds: int, scripts: list[str], env: dict[str, str]) -> list[str]:
    """Run wrk with these bench/wrk scripts, then report.lua; return the lines it printed."""
    source = "".join((WRK_SCRIPTS / f"{script}.lua").read_text() for script in [*scripts, "report"])
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as combined:
        combined.write(source)
        combined.flush()
        command = [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            combined.name,
            url,
        ]
        done = subprocess.run(
            command, env={**os.environ, **env}, capture_output=True, text=True, timeout=seconds + 60, check=True
        )
    return done.stdout.strip().splitlines()


def summary(loads: list[Load]) -> dict[str, Any]:
    """Medians of the rounds' rates and latencies, the rounds' errors summed, and every round."""
    return {
        "rate": statistics.median(load.rate for load in loads),
        "p50_ms": statistics.median(load.p50_ms for load in loads),
        "p99_ms": statistics.median(load.p99_ms for load in loads),
        "max_ms": max(load.max_ms for load in loads),
        "non_2xx": sum(load.non_2xx for load in loads),
        "socket_errors": sum(load.socket_errors + load.timeouts for load in loads),
        "rounds": [asdict(load) | {"rate": load.rate} for load in loads],
    }


def median_of(rounds: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    """Run ``measure`` ``rounds`` times; return the median and every value."""
    values = [measure() for _ in range(rounds)]
    return statistics.median(values), values


@dataclass
class Backend:
    """A running history backend, as the environment gunicorn reads it from."""

    name: str
    env: dict[str, str]
    #: What Python drivers connect to: a SQLAlchemy URL, or a MongoDB URI.
    url: str


@contextlib.contextmanager
def backend(name: str, workdir: Path, port: int | None = None) -> Iterator[Backend]:
    """Start the named history backend (durable, as deployed) in ``workdir``, a FerretDB one on ``port`` if given;
    stop it afterwards."""
    if name == "sqlite":
        url = f"sqlite:///{workdir / 'history.sqlite3'}"
        yield Backend(name, {"PROCESS_MEMORY_DATABASE_URL": url}, url)
    elif name == "postgresql":
        postgres = PostgresServer(fsync=True)
        postgres.create()
        try:
            yield Backend(name, {"PROCESS_MEMORY_DATABASE_URL": postgres.url}, postgres.url)
        finally:
            postgres.destroy()
    elif name in FERRETDB_BACKENDS:
        with _ferretdb(name, workdir, port) as ferretdb:
            env = {"DOCDB_URI": ferretdb.uri, "DOCDB_COLLECTION": "bench"}
            yield Backend(name, env, ferretdb.uri)
    else:
        raise ValueError(f"unknown backend {name}")


@contextlib.contextmanager
def _ferretdb(name: str, workdir: Path, port: int | None = None) -> Iterator[FerretDBServer]:
    """FerretDB on its SQLite handler (``ferretdb``) or on its PostgreSQL handler over a durable PostgreSQL of its
    own (``ferretdb-pg``)."""
    postgres = PostgresServer(fsync=True) if name == "ferretdb-pg" else None
    if postgres is not None:
        postgres.create()
    try:
        url = postgres.create_database("ferretdb") if postgres is not None else None
        ferretdb = FerretDBServer(workdir / "ferretdb", port, postgresql_url=url)
        ferretdb.start()
        try:
            yield ferretdb
        finally:
            ferretdb.stop()
    finally:
        if postgres is not None:
            postgres.destroy()


@dataclass
class Served:
    """A running stack: where to send requests, and its gunicorn (for its workers' pids)."""

    url: str
    gunicorn: GunicornServer


@contextlib.contextmanager
def stack(store: Backend, workdir: Path, through_nginx: bool = False, workers: int = WORKERS) -> Iterator[Served]:
    """Serve the backend with the shipped gunicorn.conf.py (and nginx in front of it)."""
    run_dir = workdir / f"run-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir()
    env = store.env | {"PROCESS_MEMORY_STATE_BACKEND": "memory"}
    if through_nginx:  # without API keys, the service refuses what a proxy forwards unless it is open on purpose
        env["PROCESS_MEMORY_AUTH"] = "off"
    gunicorn = GunicornServer(env, workers, run_dir, args=())
    gunicorn.start()
    nginx = None
    try:
        if through_nginx:
            nginx = NginxServer(run_dir / "nginx", f"127.0.0.1:{gunicorn.port}", 64 * 1024 * 1024)
            nginx.start()
        yield Served(nginx.url if nginx else gunicorn.url, gunicorn)
    finally:
        if nginx:
            nginx.stop()
        gunicorn.stop()


def bar_chart(axes: Any, labels: list[str], values: list[float], ylabel: str) -> None:
    """Bars of ``values`` under ``labels``: the chart of a scenario that compares a few rates."""
    axes.bar(range(len(values)), values, color="tab:blue")
    axes.set_xticks(range(len(values)), labels, fontsize=7)
    axes.set_ylabel(ylabel)


def _command_version(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "absent"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "unknown"


def versions() -> dict[str, str]:
    """The versions of what a result depends on."""
    found = {name: metadata.version(name) for name in ("gunicorn", "gevent", "flask", "sqlalchemy", "pymongo")}
    go_mod = (ROOT / "tools" / "ferretdb" / "go.mod").read_text()
    found.update(
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        ferretdb=next(line.split()[-1] for line in go_mod.splitlines() if "FerretDB/FerretDB " in line),
        wrk=_command_version("wrk", "-v"),
        nginx=_command_version(shutil.which("nginx") or "/usr/sbin/nginx", "-v"),
        postgresql=_command_version(shutil.which("pg_ctl") or "pg_ctl", "--version"),
    )
    return found


def each_backend(argv: list[str]) -> Iterator[tuple[Backend, Path]]:
    """Start each backend the scenario measures (chosen_backends) in turn, each in a scratch directory of its own;
    yield it and the directory, and stop it before the next."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen_backends(argv):
            workdir = Path(tmp) / name
            workdir.mkdir()
            with backend(name, workdir) as store:
                yield store, workdir


def chosen_backends(argv: list[str]) -> tuple[str, ...]:
    """The backends a scenario measures: ``--backend NAME`` (repeatable), SQLite alone with ``--quick``, or all."""
    named = tuple(argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--backend")
    if named:
        return named
    return ("sqlite",) if "--quick" in argv else BACKENDS


def merged_rows(name: str, rows: list[dict[str, Any]], argv: list[str]) -> list[dict[str, Any]]:
    """With ``--backend``, ``rows`` after the last result's rows of the other backends; else ``rows``."""
    path = RESULTS / f"{name}.json"
    if "--backend" not in argv or not path.exists():
        return rows
    measured = chosen_backends(argv)
    return [row for row in json.loads(path.read_text())["rows"] if row["backend"] not in measured] + rows


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine's cores, the versions and the time of the run."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamped = {
        "name": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "versions": versions(),
        **result,
    }
    path.write_text(json.dumps(stamped, indent=1) + "\n")
    return path
