"""What gunicorn loads besides the app: its worker class, and a logger that writes JSON wherever ``--log-file`` says.

The worker is gunicorn's gevent worker, with the answers gunicorn gives itself
(a malformed request line, a URI or headers too long: 400, 414, 431) written in
the API's JSON error shape rather than as HTML.

gunicorn's ``--log-level`` and ``--log-file`` (``loglevel``/``errorlog`` in a config file) govern its
error log. This logger class makes them govern the app's JSON lines too: the root logger shares the
error log's handlers and level, so a request line (info) or a warning goes where gunicorn's own lines
go, or nowhere when the level is above it. gunicorn calls ``setup`` at start and on every reload.
"""

from __future__ import annotations

import ctypes
import functools
import json
from typing import Any

from gunicorn import util
from gunicorn.glogging import Logger, SafeAtoms
from gunicorn.workers.ggevent import GeventWorker

from process_memory.observability import log_through
from process_memory.services import services_if_any

#: glibc's mallopt options (malloc.h), and the values return_large_buffers_at_once gives them.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: From this size, every allocation is a mapping of its own, unmapped when freed.
LARGE_ALLOCATION_BYTES = 1024 * 1024
#: Free memory the heap may keep at its top instead of giving it back at once.
HEAP_TOP_KEPT_BYTES = 4 * 1024 * 1024

#: What gunicorn's own refusals say. Its messages quote what the client sent; these do not.
_REFUSALS = {
    400: "the request is not valid HTTP",
    403: "the request was refused before it reached the service",
    414: "the request line is too long",
    417: "the Expect header cannot be met",
    431: "the request headers are too large",
    500: "internal error",
    501: "the transfer coding is not supported",
}


class JSONSafeAtoms(SafeAtoms):
    """gunicorn's access-log values, each text escaped for JSON: whatever a client sends, a line stays JSON.

    (gunicorn's own SafeAtoms escapes only the double quote; a backslash or a control character would
    still break a JSON line.)
    """

    def __init__(self, atoms: dict[str, Any]) -> None:
        dict.__init__(
            self, {name: json.dumps(value)[1:-1] if isinstance(value, str) else value for name, value in atoms.items()}
        )


class JSONLogger(Logger):
    """gunicorn's logger, with its error log in JSON and the app's logs routed through it."""

    def setup(self, cfg: Any) -> None:
        """Set gunicorn's handlers up as configured, then route the app's logs through them."""
        super().setup(cfg)
        log_through(self.error_log)

    atoms_wrapper_class = JSONSafeAtoms


def write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """Write one of gunicorn's own refusals in the API's error shape (``message``, the client's input, is dropped)."""
    code = reason.lower().replace(" ", "_")
    body = json.dumps({"error": {"code": code, "message": _REFUSALS.get(status, reason), "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


@functools.cache
def _quiet_kind(kind: type[BaseException]) -> type[BaseException]:
    """A subclass of ``kind`` whose text names the kind only: gunicorn decides by isinstance, and logs the text."""

    def text(_: BaseException) -> str:
        return f"{kind.__name__} (what the client sent is not logged)"

    return type(kind.__name__, (kind,), {"__str__": text, "__repr__": text})


def without_client_bytes(error: BaseException) -> BaseException:
    """Return ``error`` made to say only what kind of refusal it is.

    gunicorn's refusals quote the client's bytes (a chunk-size line is the payload, a bad header line may be
    the API key, the Expect value anything), and its worker logs that text as a warning. The error is changed
    in place, since gunicorn drops it after answering.
    """
    try:
        error.__class__ = _quiet_kind(type(error))  # type: ignore[arg-type]  # classes hash by identity
    except TypeError:  # a class whose layout forbids it: say nothing of it rather than quote it
        error.args = ()
    return error


def return_large_buffers_at_once() -> bool:
    """Make glibc map every allocation of LARGE_ALLOCATION_BYTES or more on its own; return whether it could.

    By default glibc raises that threshold to the size of each large block freed
    (up to 32 MB), so after one large request the next one's buffers come from
    the heap, and stay there after it: a worker kept several times a 15 MB
    entry's size. With the threshold fixed, a large body's buffers go back to
    the system when the request lets them go (docs/deployment.md).

    Fixing that threshold also leaves the heap's trim threshold at glibc's
    128 KiB, and the heap then shrank and grew again through every large
    request (a 17 MB body posted to /healthz took 1.2-2.2 s instead of
    0.3 s): the heap keeps up to HEAP_TOP_KEPT_BYTES.
    """
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # glibc's; other C libraries may lack it
    if mallopt is None:
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, HEAP_TOP_KEPT_BYTES) and mallopt(_M_MMAP_THRESHOLD, LARGE_ALLOCATION_BYTES))


class JSONErrorGeventWorker(GeventWorker):
    """gunicorn's gevent worker, answering its own refusals in JSON."""

    def init_process(self) -> None:
        """Route gunicorn's error pages through :func:`write_json_error`, then serve."""
        # gunicorn writes every refusal through this one function (workers/base.py handle_error).
        util.write_error = write_json_error
        return_large_buffers_at_once()
        super().init_process()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Refuse as gunicorn does, logging the refusal's kind but never the client's bytes."""
        super().handle_error(req, client, addr, without_client_bytes(exc))

    def handle_exit(self, sig: Any, frame: Any) -> None:
        """Stop as gunicorn does, ending live-tail waits at once so that shutdown need not outwait them."""
        super().handle_exit(sig, frame)
        # A worker told to stop while it boots has no app yet: nothing is waiting then.
        running = services_if_any(getattr(self, "wsgi", None))
        if running is not None:
            running.history.notifier.stop_waiting()
