"""Strict JSON request bodies: the one place where request JSON is parsed.

Plugged into flask-smorest as its arguments parser, so every ``@blp.arguments``
body gets the same rules: 415 for a non-JSON content type, 400 for malformed
JSON (NaN and Infinity are not JSON), and 422 for what JSON can say but the
service cannot keep exactly: a key repeated in one object (which value would
count?), a number that would not come back as it was written (``1e-400`` is not
``0.0``; an integer of more than :data:`MAX_INTEGER_DIGITS` digits), a lone
surrogate (not Unicode, so not storable as UTF-8), and nesting deeper than
:data:`MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import flask
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from process_memory.exceptions import InvalidInput

#: Deeper documents are refused with 422; well below Python's recursion limit,
#: so whatever is accepted can always be encoded again on the way out.
MAX_JSON_DEPTH = 256
#: Python's own bound on converting between integers and text (sys.get_int_max_str_digits).
MAX_INTEGER_DIGITS = 4300
#: A \u escape of a surrogate: only then can a parsed string hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class _Refused(ValueError):
    """Raised from inside json.loads: the body is JSON, but not JSON the service can keep exactly."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"malformed JSON: {name} is not a JSON value")


def _exact_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused("a number is out of range", "numbers must be finite doubles or integers")
    # Stored and given back as the shortest text of this double: refuse a number that text would change.
    if Decimal(text) != Decimal(repr(value)):
        raise _Refused(
            "a number cannot be kept exactly", "a decimal number must be exactly the double it names (1e-400 is not)"
        )
    return value


def _exact_integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused("an integer is too long", f"integers have at most {MAX_INTEGER_DIGITS:,} digits")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        # The key is not named: keys can be data, and messages must not echo it.
        raise _Refused("an object repeats a key", "each key may appear once in an object")
    return value


def _holds_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


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
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_exact_float,
            parse_int=_exact_integer,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        # Position only: the message must not echo the payload.
        raise BadRequest(f"malformed JSON at line {exc.lineno} column {exc.colno}") from None
    except _Refused as refused:
        raise InvalidInput(refused.message, {"json": [refused.detail]}) from None
    except RecursionError:
        raise too_deep from None
    if _SURROGATE_ESCAPE.search(raw) and _holds_lone_surrogate(value):
        raise InvalidInput(
            "a string is not valid Unicode", {"json": ["a \\ud800-\\udfff escape must be half of a surrogate pair"]}
        )
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
