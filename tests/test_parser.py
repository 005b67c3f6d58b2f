"""The strict JSON parser (api/parser.py): each refusal's status, message and details, and where each bound falls."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from process_memory.api.parser import MAX_INTEGER_DIGITS, MAX_JSON_DEPTH, load_json_body, read_json_request
from process_memory.exceptions import InvalidInput


@pytest.mark.parametrize(
    ("raw", "message", "detail"),
    [
        (b"[1e400]", "a number is out of range", "numbers must be finite doubles or integers"),
        (b"[-1E400]", "a number is out of range", "numbers must be finite doubles or integers"),
        (
            b"[1e-400]",
            "a number cannot be kept exactly",
            "a decimal number must be exactly the double it names (1e-400 is not)",
        ),
        (b'{"a":1,"b":{"a":2,"a":3}}', "an object repeats a key", "each key may appear once in an object"),
        (b"[" + b"9" * (MAX_INTEGER_DIGITS + 1) + b"]", "an integer is too long", "integers have at most 4,300 digits"),
        (
            b'{"\\udc00":1}',
            "a string is not valid Unicode",
            "a \\ud800-\\udfff escape must be half of a surrogate pair",
        ),
        (
            b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
            "JSON nested too deeply",
            "at most 256 levels of nesting",
        ),
    ],
)
def test_each_refusal_names_its_problem(raw: bytes, message: str, detail: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        load_json_body(raw)
    assert (refused.value.message, refused.value.details) == (message, {"json": [detail]})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": nope}', "malformed JSON at line 1 column 7"),
        (b"[NaN]", "malformed JSON: NaN is not a JSON value"),
        (b"[\xff]", "malformed JSON: the body is not UTF-8"),
    ],
)
def test_what_is_not_json_is_a_400(raw: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        load_json_body(raw)
    assert refused.value.description == message


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"[" + b"9" * MAX_INTEGER_DIGITS + b"]", [int("9" * MAX_INTEGER_DIGITS)]),
        (b"[-" + b"9" * MAX_INTEGER_DIGITS + b"]", [-int("9" * MAX_INTEGER_DIGITS)]),
        (
            b"[0.1, 1.0, 2.5E-3, -0.0, 1.7976931348623157e308, 5e-324]",
            [0.1, 1.0, 0.0025, -0.0, 1.7976931348623157e308, 5e-324],
        ),
        (b'["\\ud83d\\ude00", "\\u0000"]', ["\U0001f600", "\x00"]),
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, None),
        # Brackets enough to make the parser look, but 256 levels at most, in lists and in objects:
        (b"[" + b"[]," * 300 + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"]", None),
        (b'[{"a":[]},' + b'{"a":' * (MAX_JSON_DEPTH - 1) + b"1" + b"}" * (MAX_JSON_DEPTH - 1) + b"]", None),
        (b'{"a":{"b":1},"b":{"a":1}}', {"a": {"b": 1}, "b": {"a": 1}}),
    ],
)
def test_what_can_be_kept_exactly_is_accepted(raw: bytes, value: Any) -> None:
    parsed = load_json_body(raw)
    if value is not None:
        assert parsed == value


def test_a_body_that_is_not_json_is_a_415() -> None:
    with Flask(__name__).test_request_context(data=b"{}", content_type="text/plain"):
        with pytest.raises(UnsupportedMediaType) as refused:
            read_json_request(request)
    assert refused.value.description == "the body must be application/json"
