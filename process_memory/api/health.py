"""Operational endpoints outside the API: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, current_app, jsonify

from process_memory.anchoring.checkpoints import CheckpointBook, anchoring_health
from process_memory.config import Settings
from process_memory.exceptions import StoreCorrupt, StoreFull, StoreUnavailable
from process_memory.observability import metrics_response
from process_memory.services import services
from process_memory.store_failures import DRIVER_ERRORS, store_failure

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Response:
    """The process answers; no I/O."""
    return jsonify(status="ok")


#: What a check says of a store that failed it, by the kind of failure, most particular first.
_STORE_ERRORS: tuple[type[Exception], ...] = (StoreUnavailable, *DRIVER_ERRORS)
_CHECK_WORDS: tuple[tuple[type[StoreUnavailable], str], ...] = (
    (StoreFull, "full"),
    (StoreCorrupt, "corrupt"),
    (StoreUnavailable, "unavailable"),
)


def _check(ping: Callable[[], object]) -> str:
    try:
        ping()
    except _STORE_ERRORS as error:
        failure = store_failure(error)
        return next(word for kind, word in _CHECK_WORDS if isinstance(failure, kind))
    return "ok"


@blp.get("/readyz")
def readyz() -> Response:
    """The history and state stores answer (and can be written, for the state); 503 otherwise, with the reason,
    so a balancer stops sending traffic here. A history found damaged by any request stays a reason."""
    found = services()
    checks = {"history": _check(found.history.store.ping), "state": _check(found.state_root.ping)}
    if found.damaged_store and checks["history"] == "ok":
        checks["history"] = "corrupt"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify(status="ready" if ready else "unavailable", checks=checks, anchoring=_anchoring())
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = "5"
    return response


def _anchoring() -> dict[str, object]:
    """Anchoring's state, reported without changing readiness: appends go on while witnesses are away, and are
    anchored once a quorum answers again."""
    settings: Settings = current_app.config["SETTINGS"]
    if settings.signing_key is None:
        return {"status": "off"}
    book = CheckpointBook(services().history.store.rows)
    try:
        return anchoring_health(book, [w.name for w in settings.witnesses], settings.witness_quorum)
    except _STORE_ERRORS:
        return {"status": "unknown: the history store did not answer"}


@blp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics, summed over every worker."""
    return metrics_response()
