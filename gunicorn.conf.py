"""gunicorn settings for process-memory (`make run` and production).

Used as `gunicorn -c gunicorn.conf.py wsgi:process_memory_app`.
"""

from __future__ import annotations

# gevent first, before anything imports ssl's classes or socket (pymongo, psycopg, redis): every
# connection of a worker, idle, slow or waiting on the live tail, costs a greenlet, never a thread.
from gevent import monkey

monkey.patch_all()

import multiprocessing  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
from typing import Any  # noqa: E402

# PROCESS_MEMORY_BIND: host:port, or unix:/path/to.sock.
bind = os.environ.get("PROCESS_MEMORY_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
# gevent: each connection is a greenlet, so idle and slow clients and live-tail readers (GET history?wait=30)
# never take the place of a ready request, as they would take a gthread worker's threads
# (docs/security.md). Beyond worker_connections per worker, new connections wait in the listen backlog.
worker_class = "process_memory.serving.JSONErrorGeventWorker"
worker_connections = int(os.environ.get("PROCESS_MEMORY_WORKER_CONNECTIONS", 1000))
# The app opens its database clients on first use in each worker, after the fork: never preload them.
preload_app = False
# On SIGTERM or SIGHUP a worker finishes the requests it has (up to this long) before it exits.
graceful_timeout = 30
# Longer than nginx's upstream keepalive_timeout (4 s), so nginx always closes first.
keepalive = 5
# gthread's timeout is the worker heartbeat, not a request limit: long waits and large bodies are fine.
timeout = 120
# gunicorn's runtime control socket lives at one path per user (~/.gunicorn); a second server on the
# host (another deployment, the test suite) would take it over. Signals (HUP, TERM) do the same job.
control_socket_disable = True

# Logs: --log-level and --log-file (loglevel, errorlog) govern gunicorn's error log and, through this
# logger class, the app's JSON lines as well: the app writes one line per request at level info.
logger_class = "process_memory.serving.JSONLogger"
# gunicorn's own access log repeats that request line, so it is off unless asked for
# (--access-logfile PATH, or - for stdout); then it is one JSON line per request in this format.
accesslog = None
access_log_format = (
    '{"time":"%(t)s","remote":"%(h)s","method":"%(m)s","path":"%(U)s","status":%(s)s,'
    '"bytes":%(B)s,"duration_us":%(D)s,"request_id":"%({x-request-id}o)s","worker":"%(p)s"}'
)

# Metrics from every worker are summed at /metrics (prometheus-client's multiprocess mode); the
# directory must exist, empty, before the workers start.
_OWN_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), f"process-memory-metrics-{os.getpid()}")
)
# The logger class imports the app's package, whose metrics open files there, before on_starting empties it
# (the master's files go with it; each worker opens its own after the fork).
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def _reset_metrics_directory() -> None:
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


#: How long the master waits for the schemas before it starts the workers anyway.
SCHEMA_SECONDS = 120

#: The anchoring process the master keeps running when anchoring is configured (anchoring/process.py); the
#: workers, forked after it started, see it here and run no round of their own.
_anchoring_process: Any = None


def when_ready(server: Any) -> None:
    """Once the master is ready, before it forks a worker: create the stores' schemas, and start the anchoring
    process, if anchoring is on."""
    global _anchoring_process
    from process_memory.anchoring.process import AnchoringProcess
    from process_memory.app import anchors
    from process_memory.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError:
        return  # each worker reports the bad variable and gunicorn stops
    _prepare_schemas(server)
    if anchors(settings):
        _anchoring_process = AnchoringProcess()
        _anchoring_process.start()
        server.log.info("process-memory: anchoring in process %d", _anchoring_process.pid)


def _prepare_schemas(server: Any) -> None:
    """Create the schemas once, in a process of its own (process_memory/schemas.py); a database that cannot be
    reached now leaves it to each worker's first use (which retries, then answers 503)."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-m", "process_memory.schemas"], timeout=SCHEMA_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        done = subprocess.CompletedProcess([], 1)
    if done.returncode == 1:
        server.log.warning("process-memory: schemas not prepared before the workers; each worker makes them")


def post_worker_init(worker: Any) -> None:
    """In each worker, its app loaded: with the anchoring process running, stop the app's own loop before its first
    request would start it."""
    from process_memory.services import services_if_any

    running = services_if_any(getattr(worker, "wsgi", None))
    if _anchoring_process is not None and running is not None and running.anchoring is not None:
        running.anchoring.stop()


def on_exit(server: Any) -> None:
    """Stop the anchoring process (it gives up its lease); remove the metrics directory when gunicorn chose it (an
    operator's own is left alone)."""
    if _anchoring_process is not None:
        _anchoring_process.stop()
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    """Fold a dead worker's live gauges away; its counters stay counted."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_starting(server: Any) -> None:
    """Say once, from the master, where history and state are kept (never with credentials)."""
    _reset_metrics_directory()
    from process_memory.auth import access_at_start
    from process_memory.config import ConfigError, Settings
    from process_memory.registry import HISTORY_STORES, history_backend

    try:
        settings = Settings.from_env()
        store = HISTORY_STORES.create(history_backend(settings), settings)
    except ConfigError:
        return  # each worker reports the bad variable and gunicorn stops
    may_start, line = access_at_start(
        settings.requires_keys, settings.auth_off, settings.proxy_hops, server.cfg.address
    )
    if not may_start:
        server.log.error("process-memory: %s", line)
        raise SystemExit(3)
    server.log.info("process-memory: %s", line)
    server.log.info("process-memory: history in %s", store.describe())
    server.log.info("process-memory: state in the %s store", settings.state_backend)
    if settings.state_backend == "memory" and server.cfg.workers > 1:
        server.log.warning(
            "process-memory: PROCESS_MEMORY_STATE_BACKEND=memory with %d workers: each worker keeps its own "
            "state, so a client sees whichever worker answers. Use file (one host), sql or redis.",
            server.cfg.workers,
        )
