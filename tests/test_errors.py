"""The one JSON error shape, for every kind of failure a handler can meet."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, abort
from flask.testing import FlaskClient
from werkzeug.exceptions import UnprocessableEntity

from process_memory import create_app
from process_memory.api.access import OPEN, ROUTE_SCOPES
from process_memory.config import Settings
from process_memory.exceptions import ServiceError, StoreUnavailable, TooManyWaiting
from process_memory.http_errors import error_response


def _damaged_file() -> sqlite3.DatabaseError:
    """SQLite's error for a file that is not a database any more (SQLITE_NOTADB)."""
    error = sqlite3.DatabaseError("file is not a database")
    error.sqlite_errorcode = 26  # type: ignore[attr-defined]
    return error


class OddServiceError(ServiceError):
    """A domain error no status is registered for."""

    code = "odd"


def _raise(kind: str) -> Any:
    failures: dict[str, BaseException] = {
        "unavailable": StoreUnavailable("the database is far away", retry_after=7),
        "odd": OddServiceError("something odd", {"why": "because"}),
        "value": ValueError("a payload-quoting message"),
        "waiting": TooManyWaiting("this worker holds 2 live-tail readers already", retry_after=3),
        "driver": sa.exc.OperationalError("SELECT 'payload'", {}, sqlite3.OperationalError("near 'payload'")),
        "damaged": sa.exc.DatabaseError("SELECT 'payload'", {}, _damaged_file()),
    }
    if kind == "webargs":
        error = UnprocessableEntity()
        error.data = {
            "messages": {"json": {"type": ["Missing data."]}, "query": ["Unknown field."]},  # type: ignore[attr-defined]
            "headers": {"X-Hint": "look"},
        }
        raise error
    if kind == "teapot":
        abort(418)
    raise failures[kind]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """An app over a private SQLite file, with a route (open to all) that fails as asked."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}"))
    app.add_url_rule("/fail/<kind>", view_func=_raise)
    monkeypatch.setitem(ROUTE_SCOPES, "_raise", {"GET": OPEN})
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


def test_the_code_is_derived_from_the_status(app: Flask) -> None:
    with app.test_request_context():
        assert [error_response(status, "m").get_json()["error"]["code"] for status in (404, 207, 599)] == [
            "not_found",
            "multi_status",
            "error",
        ]
        response = error_response(409, "m", {"d": 1}, code="mine", headers={"X-A": "b"})
        assert (response.status_code, response.headers["X-A"], response.get_json()) == (
            409,
            "b",
            {"error": {"code": "mine", "message": "m", "details": {"d": 1}}},
        )


@pytest.mark.parametrize(
    ("kind", "status", "error", "headers"),
    [
        (
            "unavailable",
            503,
            {"code": "store_unavailable", "message": "the database is far away", "details": None},
            {"Retry-After": "7"},
        ),
        ("odd", 500, {"code": "odd", "message": "something odd", "details": {"why": "because"}}, {}),
        (
            "waiting",
            503,
            {"code": "too_many_waiting", "message": "this worker holds 2 live-tail readers already", "details": None},
            {"Retry-After": "3"},
        ),
        (
            "driver",
            503,
            {"code": "store_unavailable", "message": "the database is unavailable", "details": None},
            {"Retry-After": "5"},
        ),
        (
            "webargs",
            422,
            {
                "code": "unprocessable_entity",
                "message": "invalid request",
                "details": {"type": ["Missing data."], "_": ["Unknown field."]},
            },
            {"X-Hint": "look"},
        ),
        (
            "teapot",
            418,
            {"code": "i'm_a_teapot", "message": "This server is a teapot, not a coffee machine", "details": None},
            {},
        ),
    ],
)
def test_each_failure_has_its_status_code_and_body(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    status: int,
    error: dict[str, Any],
    headers: dict[str, str],
) -> None:
    with caplog.at_level(logging.INFO, logger="process_memory.request"):
        response = client.get(f"/fail/{kind}")
    assert (response.status_code, response.get_json()) == (status, {"error": error})
    assert {name: response.headers.get(name) for name in headers} == headers
    [logged] = [record for record in caplog.records if record.name == "process_memory.request"]
    assert logged.outcome == error["code"]


def test_a_wrong_method_names_the_allowed_ones(client: FlaskClient) -> None:
    response = client.delete("/api/v1/instances/x/history")
    assert (response.status_code, response.get_json()["error"]["code"]) == (405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_an_unexpected_error_logs_where_it_happened_but_not_what_it_said(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = client.get("/fail/value")
    assert response.get_json() == {
        "error": {"code": "internal_server_error", "message": "internal error", "details": None}
    }
    [logged] = [record for record in caplog.records if record.levelno == logging.ERROR]
    first, _, frames = logged.getMessage().partition("\n")
    assert first == "unexpected ValueError"
    assert "test_errors.py" in frames and "in _raise" in frames
    # traceback's own frame lines, one after the other: `  File "…", line N, in name` and the source line.
    assert all(line.startswith(("  File ", "    ")) for line in frames.splitlines())
    assert "payload-quoting" not in logged.getMessage() and logged.exc_info is None


def test_a_drivers_error_is_logged_by_its_type_alone(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="process_memory.http_errors"):
        client.get("/fail/driver")
    assert [r.getMessage() for r in caplog.records if r.name == "process_memory.http_errors"] == [
        "store failure OperationalError answered as store_unavailable"
    ]


def test_a_damaged_database_answers_503_and_is_not_ready_from_then_on(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get("/readyz").status_code == 200
    with caplog.at_level(logging.WARNING, logger="process_memory.http_errors"):
        response = client.get("/fail/damaged")
    assert (response.status_code, response.headers["Retry-After"], response.get_json()["error"]) == (
        503,
        "60",
        {"code": "store_corrupt", "message": "the store's data is damaged and cannot be read", "details": None},
    )
    assert [r.getMessage() for r in caplog.records if r.name == "process_memory.http_errors"] == [
        "store failure DatabaseError answered as store_corrupt",
        "the history store's data is damaged: answering 503 and not ready until restarted",
    ]
    ready = client.get("/readyz")
    assert (ready.status_code, ready.get_json()["checks"]) == (503, {"history": "corrupt", "state": "ok"})
