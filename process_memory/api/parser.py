"""Strict JSON request bodies: the one place where request JSON is parsed.

Plugged into flask-smorest as its arguments parser, so every ``@blp.arguments``
body gets the same rules: 415 for a non-JSON content type, 400 for malformed
JSON (NaN and Infinity are not JSON), and 422 for what JSON can say but the
service cannot keep exactly: a key repeated in one object (which value would
count?), a number that would not come back as it was written (``1e-400`` is not
``0.0``; an integer of more than :data:`MAX_INTEGER_DIGITS` digits), a lone
surrogate (not Unicode, so not storable as UTF-8), and nesting deeper than
:data:`MAX_JSON_DEPTH`.

A large body is parsed so that its data never becomes a tree of Python objects
(:func:`load_large_body`), under the same rules and with the same answers.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any

import flask
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from process_memory.chain import CanonicalJSON
from process_memory.exceptions import InvalidInput

#: Deeper documents are refused with 422; well below Python's recursion limit,
#: so whatever is accepted can always be encoded again on the way out.
MAX_JSON_DEPTH = 256
#: Python's own bound on converting between integers and text (sys.get_int_max_str_digits).
MAX_INTEGER_DIGITS = 4300
#: Bodies longer than this keep their schema's ``CANONICAL_FIELD`` as canonical text (see load_large_body).
LARGE_BODY_BYTES = 1024 * 1024
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


_STRICT = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_exact_float, parse_int=_exact_integer, object_pairs_hook=_unique_keys
)


@contextmanager
def _refusals() -> Iterator[None]:
    """Turn what parsing raises into the API's 400 and 422 answers."""
    try:
        yield
    except json.JSONDecodeError as exc:
        # Position only: the message must not echo the payload.
        raise BadRequest(f"malformed JSON at line {exc.lineno} column {exc.colno}") from None
    except _Refused as refused:
        raise InvalidInput(refused.message, {"json": [refused.detail]}) from None
    except RecursionError:
        raise _too_deep_error() from None


def _too_deep_error() -> InvalidInput:
    return InvalidInput("JSON nested too deeply", {"json": [f"at most {MAX_JSON_DEPTH} levels of nesting"]})


def _lone_surrogate_error() -> InvalidInput:
    return InvalidInput(
        "a string is not valid Unicode", {"json": ["a \\ud800-\\udfff escape must be half of a surrogate pair"]}
    )


def _utf8_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("malformed JSON: the body is not UTF-8") from None


def load_json_body(raw: bytes) -> Any:
    """Parse a request body strictly; raise BadRequest or InvalidInput on refusal."""
    text = _utf8_text(raw)
    with _refusals():
        value = _STRICT.decode(text)
    if _SURROGATE_ESCAPE.search(raw) and _holds_lone_surrogate(value):
        raise _lone_surrogate_error()
    # Counting brackets is cheap and rules out deep nesting for most bodies.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _too_deep(value):
        raise _too_deep_error()
    return value


# -- large bodies ------------------------------------------------------------
# A dataset of records parsed into dicts takes about five times its text. So the
# data of a large body is made canonical while it is parsed: each object, once
# parsed, becomes its canonical UTF-8 at once (the object hook below), and its
# parent joins those texts. Alive at a time: the body's text, the canonical
# texts of one array's items, and the text being joined.


#: json's own string scanner and white space, which typeshed does not declare.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _CanonicalData:
    """Makes one large body's data canonical as json's scanner parses it.

    An object's text is ``bytes``, which parsing never yields, so a parent tells
    it from a string. Its depth is kept aside, by the text's id, until the
    parent takes it: an attribute on each text would cost more than many
    records' own text.
    """

    def __init__(self) -> None:
        self.depths: dict[int, int] = {}
        #: Refused after parsing, as load_json_body does: a syntax error later in the body comes first.
        self.lone_surrogate = False
        self.decoder = json.JSONDecoder(
            parse_constant=_reject_constant,
            parse_float=_exact_float,
            parse_int=_exact_integer,
            object_pairs_hook=self.object_text,
        )

    def text(self, value: Any) -> tuple[bytes, int]:
        """Return the canonical UTF-8 of a parsed value, whose objects are text already, and its depth."""
        if isinstance(value, bytes):
            return value, self.depths.pop(id(value), 1)
        if isinstance(value, str):
            return self._utf8(encode_basestring(value)), 0
        if isinstance(value, list):
            out, deepest = io.BytesIO(), 0
            out.write(b"[")
            for n, item in enumerate(value):
                text, depth = self.text(item)
                out.write(b"," if n else b"")
                out.write(text)
                deepest = max(deepest, depth)
                value[n] = None  # written: let the parsed item and its text go
                del text
            out.write(b"]")
            return self._with_depth(out.getvalue(), deepest + 1)
        if value is None or isinstance(value, bool):
            return (b"null" if value is None else b"true" if value else b"false"), 0
        return repr(value).encode(), 0  # int or float: repr is what json.dumps writes

    def object_text(self, pairs: list[tuple[str, Any]]) -> bytes:
        """The object hook: the object's canonical text, keys in code point order, as one join."""
        if len({key for key, _ in pairs}) != len(pairs):
            raise _Refused("an object repeats a key", "each key may appear once in an object")
        pairs.sort(key=itemgetter(0))
        out, deepest = io.BytesIO(), 0
        out.write(b"{")
        for n, (key, value) in enumerate(pairs):
            text, depth = self.text(value)
            out.write(b"," if n else b"")
            out.write(self._utf8(encode_basestring(key)))
            out.write(b":")
            out.write(text)
            deepest = max(deepest, depth)
            pairs[n] = None  # type: ignore[call-overload]  # as in text()
            del text
        out.write(b"}")
        text, _ = self._with_depth(out.getvalue(), deepest + 1)
        return text

    def _with_depth(self, text: bytes, depth: int) -> tuple[bytes, int]:
        if depth > 1:  # capped: deeper is refused anyway, after parsing
            self.depths[id(text)] = min(depth, MAX_JSON_DEPTH + 1)
        return text, depth

    def _utf8(self, text: str) -> bytes:
        try:
            return text.encode()
        except UnicodeEncodeError:
            self.lone_surrogate = True
            return text.encode(errors="surrogatepass")


def _skip_space(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]  # the pattern matches ""


def _members(text: str, data: _CanonicalData, canonical_field: str) -> tuple[list[tuple[str, Any]], int]:
    """Parse the members of the object ``text`` opens with, as json's scanner does; return them and the end."""
    members: list[tuple[str, Any]] = []
    position = _skip_space(text, _skip_space(text, 0) + 1)
    if text.startswith("}", position):
        return members, position + 1
    while True:
        if not text.startswith('"', position):
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, position)
        key, position = _scanstring(text, position + 1)
        position = _skip_space(text, position)
        if not text.startswith(":", position):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, position)
        decoder = data.decoder if key == canonical_field else _STRICT
        value, position = decoder.raw_decode(text, _skip_space(text, position + 1))
        members.append((key, value))
        position = _skip_space(text, position)
        if text.startswith("}", position):
            return members, position + 1
        if not text.startswith(",", position):
            raise json.JSONDecodeError("Expecting ',' delimiter", text, position)
        position = _skip_space(text, position + 1)


def load_large_body(raw: bytes, canonical_field: str) -> Any:
    """Parse a body as :func:`load_json_body` does, but keep ``canonical_field`` as :class:`CanonicalJSON`.

    Only a body that is an object is parsed this way (anything else is parsed as
    usual, and its schema refuses it). Every refusal is the one load_json_body
    would give, in the same order: syntax first, then repeated keys, lone
    surrogates, depth.
    """
    return _load_large_text(_utf8_text(raw), canonical_field)


def _load_large_text(text: str, canonical_field: str) -> Any:
    if not text.startswith("{", _skip_space(text, 0)):
        return load_json_body(text.encode())
    data = _CanonicalData()
    with _refusals():
        members, end = _members(text, data, canonical_field)
        body = _unique_keys(members)
        del members
        if _skip_space(text, end) != len(text):
            raise json.JSONDecodeError("Extra data", text, _skip_space(text, end))
        missing = canonical_field not in body
        canonical, depth = (b"", 0) if missing else data.text(body.pop(canonical_field))
    if data.lone_surrogate or _holds_lone_surrogate(body):
        raise _lone_surrogate_error()
    if depth + 1 > MAX_JSON_DEPTH or _too_deep(body):
        raise _too_deep_error()
    if not missing:
        body[canonical_field] = CanonicalJSON(canonical)
    return body


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

    def load_json(self, req: flask.Request, schema: Any) -> Any:
        """Parse the body; a large one keeps the schema's ``CANONICAL_FIELD`` as canonical text."""
        field = getattr(schema, "CANONICAL_FIELD", None)
        if field is None or (req.content_length or 0) <= LARGE_BODY_BYTES or not is_json_request(req):
            return super().load_json(req, schema)
        # Not cached, and dropped once decoded: the body's bytes kept while parsing would cost its size again.
        return _load_large_text(_utf8_text(req.get_data(cache=False)), field)
