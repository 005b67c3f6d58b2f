"""schemathesis: every operation, fed inputs generated from the OpenAPI document, answers as documented."""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from process_memory import create_app
from process_memory.config import Settings
from process_memory.services import services
from tests.conftest import ONLY_BACKENDS
from tests.keys import write_test_keys
from tests.services import PostgresServer, postgres_available, unavailable

# schemathesis needs the app when the module loads, before any fixture exists.
_DIR = Path(tempfile.mkdtemp(prefix="pm-schemathesis-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_DB = _DIR / "history.sqlite3"
# With keys configured: every call carries the key with every scope; schemathesis' ignored_auth check
# also calls each operation without one and expects the documented 401.
_KEYS = write_test_keys(_DIR)


def _app(database_url: str) -> Any:
    return create_app(Settings(database_url=database_url, max_inline_data=2048, api_keys=_KEYS.configured()))


schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _app(f"sqlite:///{_DB}"))

# PostgreSQL too, whose text and integers have limits SQLite lacks: a server of this module's own, since the
# suite's starts only once a fixture asks for it, after this module has loaded.
_POSTGRES_MISSING = postgres_available() or (
    "postgresql is not in PROCESS_MEMORY_TEST_BACKENDS" if ONLY_BACKENDS and "postgresql" not in ONLY_BACKENDS else None
)
if _POSTGRES_MISSING is None:
    _POSTGRES = PostgresServer()
    _POSTGRES.create()
    atexit.register(_POSTGRES.destroy)
    _postgres_app = _app(_POSTGRES.url)
    # atexit runs last-registered first: the app lets go of the server before the server goes.
    atexit.register(services(_postgres_app).history.store.close)
    postgres_schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _postgres_app)
else:
    postgres_schema = schema  # its test skips (locally) or fails (CI) before calling anything


class _KeyAuth:
    """The key with every scope, as a Bearer token: schemathesis knows it, so it can also try calls without it."""

    def get(self, case: schemathesis.Case, context: object) -> str:
        return _KEYS.secrets["all"]

    def set(self, case: schemathesis.Case, data: str, context: object) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


for _loaded in {id(schema): schema, id(postgres_schema): postgres_schema}.values():
    _loaded.auth()(_KeyAuth)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_context: object, value: object) -> bytes:
    """Import bodies are documented as text: send text as it is, anything else (negative cases) as JSON."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


#: Operations whose body no JSON Schema can describe (an NDJSON history whose hashes must chain):
#: data "valid by the document" is not valid data there, so refusing it proves nothing.
_BODY_NOT_DESCRIBABLE = {
    ("POST", "/api/v1/instances/{instance_id}/import"),
    # `first` and `last` exclude each other, which OpenAPI 3.0 cannot say of query parameters.
    ("GET", "/{instance_id}/history"),
    # So do `after` and `before`; and a cursor's form depends on `sort` (an id, `<time>,<id>` or `<count>,<id>`).
    ("GET", "/api/v1/instances"),
}


def _headers_break_their_pattern(case: schemathesis.Case) -> bool:
    """True when a generated header value does not match the pattern the document gives it.

    schemathesis' coverage phase does not generate header values for patterns that need
    punctuation (such as a quoted ETag) and sends a placeholder instead (schemathesis#4205),
    which is not valid data, so refusing it is right.
    """
    for parameter in case.operation.definition.raw.get("parameters", []):
        pattern = parameter.get("schema", {}).get("pattern")
        value = (case.headers or {}).get(parameter["name"])
        if parameter["in"] == "header" and pattern and value is not None and not re.search(pattern, value):
            return True
    return False


def _moment_outside_utc(case: schemathesis.Case) -> bool:
    """True when a generated moment has an offset that takes it outside the years 1 to 9999 in UTC.

    OpenAPI's ``date-time`` cannot say "and within those years in UTC"; the service refuses such a moment
    with 422 (tests/contract/test_hostile_input.py), so refusing it is right.
    """
    values = [*(case.query or {}).values(), *(case.body.values() if isinstance(case.body, dict) else [])]
    for value in values:
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            continue
        if moment is not None and moment.tzinfo is not None:
            try:
                moment.astimezone(UTC)
            except OverflowError:
                return True
    return False


def _answers_as_documented(case: schemathesis.Case) -> None:
    # Server errors, statuses, content types, headers and bodies, all checked against the document.
    response = case.call()
    # A valid write may still meet a head or version that moved (412): that is state, not a rejected input.
    not_positive = (
        response.status_code == 412
        or _headers_break_their_pattern(case)
        or _moment_outside_utc(case)
        or (case.method.upper(), case.path) in _BODY_NOT_DESCRIBABLE
    )
    case.validate_response(response, excluded_checks=[positive_data_acceptance] if not_positive else [])


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    _answers_as_documented(case)


@postgres_schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented_on_postgresql(case: schemathesis.Case) -> None:
    if _POSTGRES_MISSING:
        unavailable(_POSTGRES_MISSING)
    _answers_as_documented(case)
