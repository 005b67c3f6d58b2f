"""What an operator sees: request ids, one JSON log line per request, Prometheus metrics.

Logs carry ids, routes, statuses and outcomes — never a request body, a stored
value or a credential. Metrics work across gunicorn workers through
prometheus-client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set
(gunicorn.conf.py sets it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from process_memory.entry import StoredEntry

log = logging.getLogger("process_memory.request")

#: Client-given request ids are kept when they look like ids; anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

REQUESTS = Counter("process_memory_http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "process_memory_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
APPENDS = Counter("process_memory_appended_entries_total", "History entries created.")
STORED_BYTES = Counter(
    "process_memory_stored_data_bytes_total", "Bytes of canonical JSON data stored, by where they went.", ["where"]
)
STORE_ERRORS = Counter(
    "process_memory_store_errors_total", "Requests answered 503 because a database could not be reached in time."
)

TAIL_WAITING = Gauge(
    "process_memory_tail_waiting_readers",
    "Live-tail readers waiting for an entry now.",
    multiprocess_mode="livesum",
)

SERVICE_LOG_SIZE = Gauge(
    "process_memory_service_log_size",
    "Leaves of the service log, as its anchoring writer last saw it.",
    multiprocess_mode="max",
)
WITNESS_REFUSALS = Counter(
    "process_memory_witness_refusals_total",
    "Service checkpoints a witness did not cosign, by witness and status (unreachable: none).",
    ["witness", "status"],
)


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
    converter = time.gmtime  # type: ignore[assignment]  # the "Z" is true whatever the host's zone

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as JSON."""
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__  # the type only: messages may quote data
        return json.dumps(line, default=str)


def configure_json_logging() -> None:
    """Log JSON lines unless the host application configured logging.

    Under gunicorn they go where its error log goes, at its level (``--log-file``, ``--log-level``),
    with or without gunicorn.conf.py; elsewhere to stderr at info.
    """
    root = logging.getLogger()
    if not root.handlers:
        gunicorn_errors = logging.getLogger("gunicorn.error")
        if gunicorn_errors.handlers:
            log_through(gunicorn_errors)
        else:
            handler = logging.StreamHandler()
            handler.setFormatter(JSONFormatter())
            root.addHandler(handler)
            root.setLevel(logging.INFO)
    # pymongo logs whole commands, documents included, at DEBUG: payloads must never reach a log.
    logging.getLogger("pymongo").setLevel(logging.WARNING)


def log_through(logger: logging.Logger) -> None:
    """Send every log record where ``logger`` writes, at its level, as JSON lines (``logger`` included)."""
    formatter = JSONFormatter()
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):  # files and the console; syslog keeps its own format
            handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = logger.handlers
    root.setLevel(logger.level)


def record_appends(created: list[StoredEntry]) -> None:
    """Count created entries and the bytes they stored, inline or offloaded."""
    APPENDS.inc(len(created))
    for entry in created:
        STORED_BYTES.labels(where="offloaded" if entry.blob_ref else "inline").inc(entry.size)


def record_waiting(change: int) -> None:
    """Count live-tail readers starting (+1) or ending (-1) a wait."""
    TAIL_WAITING.inc(change)


def record_anchoring(size: int, refusals: dict[str, int | None]) -> None:
    """Count an anchoring round: the service log's size, and each witness that refused, with its status."""
    SERVICE_LOG_SIZE.set(size)
    for witness, status in refusals.items():
        WITNESS_REFUSALS.labels(witness, str(status or "unreachable")).inc()


def record_store_error() -> None:
    """Count a request that failed on a store."""
    STORE_ERRORS.inc()


#: The methods counted under their own name; any other is counted (and logged) as ``other``, so that clients
#: sending made-up methods cannot grow the metrics without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The method as metrics and logs name it: a known method, or ``other``."""
    return method if method in KNOWN_METHODS else "other"


def register_request_observers(app: Flask) -> None:
    """Give every request an id, and log and count every response."""

    @app.before_request
    def start_request() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
        method = method_label(request.method)
        REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
        LATENCY.labels(method=method, route=route).observe(elapsed)
        if route not in ("/metrics", "/healthz"):
            instance_id = (request.view_args or {}).get("instance_id")
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "remote": request.remote_addr,  # the client, once ProxyFix has believed the proxy
                    "method": method,
                    "route": route,
                    "instance_id": str(instance_id) if instance_id is not None else None,
                    # The key's name (never the key): None when none was needed or given.
                    "key": getattr(g.get("caller"), "name", None),
                    "status": response.status_code,
                    "outcome": getattr(g, "error_code", "ok"),
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
        return response


def metrics_response() -> Response:
    """The Prometheus text exposition, summed over every gunicorn worker in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = DEFAULT_REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
