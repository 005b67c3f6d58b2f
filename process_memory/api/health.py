"""Operational endpoints outside the API: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from process_memory.exceptions import StoreUnavailable
from process_memory.observability import metrics_response

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Response:
    """The process answers; no I/O."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Response:
    """The history and state stores answer; 503 otherwise, so a balancer stops sending traffic here."""
    checks = {}
    history = current_app.extensions["process_memory.history"].store
    state = current_app.extensions["process_memory.state_root"]
    for name, check in (("history", history.ping), ("state", lambda: state.exists("readyz"))):
        try:
            check()
            checks[name] = "ok"
        except StoreUnavailable:
            checks[name] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ready" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = "5"
    return response


@blp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics, summed over every worker."""
    return metrics_response()
