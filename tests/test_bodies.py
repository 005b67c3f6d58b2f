"""WholeBodies (bodies.py): a streamed body reaches the app whole with its length, or not at all past the limit."""

from __future__ import annotations

import io
from typing import Any

from process_memory.bodies import TOO_LARGE, WholeBodies

LIMIT = 10


def _seen(environ: dict[str, Any]) -> dict[str, Any]:
    """Run the middleware over an app that reports what it was given."""
    seen: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(
            length=env.get("CONTENT_LENGTH"),
            body=env["wsgi.input"].read(),
            too_large=env.get(TOO_LARGE, False),
            chunked="HTTP_TRANSFER_ENCODING" in env,
        )
        return []

    WholeBodies(app, LIMIT)(environ, lambda *args: None)
    return seen


def _chunked(body: bytes) -> dict[str, Any]:
    return {"wsgi.input": io.BytesIO(body), "HTTP_TRANSFER_ENCODING": "Chunked", "wsgi.input_terminated": True}


def test_a_streamed_body_up_to_the_limit_arrives_whole_with_its_length() -> None:
    assert _seen(_chunked(b"x" * LIMIT)) == {"length": "10", "body": b"x" * LIMIT, "too_large": False, "chunked": False}
    assert _seen(_chunked(b"")) == {"length": "0", "body": b"", "too_large": False, "chunked": False}


def test_one_byte_past_the_limit_is_marked_and_nothing_of_it_arrives() -> None:
    assert _seen(_chunked(b"x" * (LIMIT + 1))) == {"length": "0", "body": b"", "too_large": True, "chunked": False}
    assert _seen(_chunked(b"x" * 100_000))["too_large"] is True


def test_a_body_with_a_length_is_left_to_the_app() -> None:
    given = {"wsgi.input": io.BytesIO(b"y" * 50), "CONTENT_LENGTH": "50"}
    assert _seen(given) == {"length": "50", "body": b"y" * 50, "too_large": False, "chunked": False}
    plain = {"wsgi.input": io.BytesIO(b"")}
    assert _seen(plain) == {"length": None, "body": b"", "too_large": False, "chunked": False}
