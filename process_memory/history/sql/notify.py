"""PostgreSQL's LISTEN/NOTIFY as the live tail's wake-up between hosts.

Every append's transaction notifies one channel (SQLHistoryStore.insert_many);
PostgreSQL delivers the notification when, and only if, it commits. Each
process that has had a waiting reader keeps one connection listening, in a
background thread (a greenlet under gevent, which psycopg supports), and wakes
its readers on every notification. A lost connection is opened again; readers
wake once it is, in case an append came in between.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

#: How long a listener waits before opening a lost connection again.
RECONNECT_SECONDS = 1.0


def channel_name(table_prefix: str) -> str:
    """The channel the history with these tables notifies."""
    return f"{table_prefix}_appended"


def listener_conninfo(url: URL) -> str:
    """The libpq connection string the store's own connections are made with: its dialect's reading of its URL,
    so that several hosts (``?host=a:5432&host=b:5432&target_session_attrs=read-write``) mean the same here."""
    _, params = url.get_dialect()().create_connect_args(url)
    params.pop("context", None)  # psycopg's adapters, not a connection parameter
    return make_conninfo(**params)


class AppendListener:
    """One LISTEN connection per process, calling ``wake`` on every notification of the channel."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self.channel = channel
        self._pid: int | None = None
        self._guard = threading.Lock()

    def start(self, wake: Callable[[], None]) -> None:
        """Start listening in this process, once."""
        with self._guard:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._listen, args=(wake,), name="tail-notify", daemon=True).start()

    def _listen(self, wake: Callable[[], None]) -> None:
        said = False  # one warning per outage, not one per attempt
        while True:
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    said = False
                    wake()  # whatever was appended while nobody listened
                    for _ in conn.notifies():
                        wake()
            except psycopg.Error as failure:
                if not said:
                    # The error's class only: its text may carry the connection string.
                    log.warning("live-tail notifications lost (%s); listening again", type(failure).__name__)
                    said = True
            time.sleep(RECONNECT_SECONDS)
