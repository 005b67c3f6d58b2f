"""Request bodies without a Content-Length (chunked): read whole, up to the limit, before the app sees them.

Werkzeug caps such a stream at ``MAX_CONTENT_LENGTH`` by stopping there, so a
longer body would reach the app cut short and could be parsed and stored as if
it were whole. This middleware reads the body itself, up to one byte past the
limit: within it, the app gets the body with its length; past it, the request is
marked and the app answers 413 without parsing anything.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from typing import Any

#: Bodies up to this size are buffered in memory, larger ones in a temporary file.
IN_MEMORY_BYTES = 1024 * 1024
#: Set in the environ when the body was longer than the limit.
TOO_LARGE = "process_memory.body_too_large"
_CHUNK = 64 * 1024


class WholeBodies:
    """WSGI middleware: give the app a length for every body it reads, or mark it too large."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Buffer a streamed body, then call the app."""
        if environ.get("CONTENT_LENGTH") or "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self.app(environ, start_response)
        buffer = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115: closed with the request
        stream, size = environ["wsgi.input"], 0
        while size <= self.max_bytes:
            chunk = stream.read(min(_CHUNK, self.max_bytes + 1 - size))
            if not chunk:
                break
            buffer.write(chunk)
            size += len(chunk)
        if size > self.max_bytes:
            environ[TOO_LARGE] = True
            size = 0
            buffer.truncate(0)
        buffer.seek(0)
        environ["wsgi.input"] = buffer
        environ["CONTENT_LENGTH"] = str(size)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        try:
            return self.app(environ, start_response)
        finally:
            buffer.close()
