"""What gunicorn loads besides the app: a logger that writes JSON wherever ``--log-file`` says.

gunicorn's ``--log-level`` and ``--log-file`` (``loglevel``/``errorlog`` in a config file) govern its
error log. This logger class makes them govern the app's JSON lines too: the root logger shares the
error log's handlers and level, so a request line (info) or a warning goes where gunicorn's own lines
go, or nowhere when the level is above it. gunicorn calls ``setup`` at start and on every reload.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from process_memory.observability import log_through


class JSONLogger(Logger):
    """gunicorn's logger, with its error log in JSON and the app's logs routed through it."""

    def setup(self, cfg: Any) -> None:
        """Set gunicorn's handlers up as configured, then route the app's logs through them."""
        super().setup(cfg)
        log_through(self.error_log)
