"""Strict JSON request bodies: the one place where request JSON is parsed.

Plugged into flask-smorest as its arguments parser, so every ``@blp.arguments``
body gets the same rules: 415 for a non-JSON content type, 400 for malformed
JSON (NaN and Infinity are not JSON), 422 for numbers out of range and nesting
deeper than :data:`MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
from typing import Any

import flask
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from process_memory.exceptions import InvalidInput

#: Deeper documents are refused with 422; well below Python's recursion limit,
#: so whatever is accepted can always be encoded again on the way out.
MAX_JSON_DEPTH = 256


class _OutOfRange(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"malformed JSON: {name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _OutOfRange(text)
    return value


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, (dict, list)))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


def load_json_body(raw: bytes) -> Any:
    """Parse a request body strictly; raise BadRequest or InvalidInput on refusal."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("malformed JSON: the body is not UTF-8") from None
    too_deep = InvalidInput("JSON nested too deeply", {"json": [f"at most {MAX_JSON_DEPTH} levels of nesting"]})
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        # Position only: the message must not echo the payload.
        raise BadRequest(f"malformed JSON at line {exc.lineno} column {exc.colno}") from None
    except _OutOfRange:
        raise InvalidInput(
            "a number is out of range", {"json": ["numbers must be finite doubles or integers"]}
        ) from None
    except RecursionError:
        raise too_deep from None
    # Counting brackets is cheap and rules out deep nesting for most bodies.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _too_deep(value):
        raise too_deep
    return value


def read_json_request(req: flask.Request) -> Any:
    """Return the request's JSON body: 415 unless it is JSON, then :func:`load_json_body`'s rules."""
    if not is_json_request(req):
        raise UnsupportedMediaType("the body must be application/json")
    return load_json_body(req.get_data(cache=True))


class StrictJSONParser(FlaskParser):
    """webargs' Flask parser with process-memory's JSON rules."""

    # Let each schema's Meta.unknown decide: query strings RAISE on typos, headers EXCLUDE.
    DEFAULT_UNKNOWN_BY_LOCATION: dict[str, str | None] = {}

    def _raw_load_json(self, req: flask.Request) -> Any:
        return read_json_request(req)
