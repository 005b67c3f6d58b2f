"""Waking live-tail readers in the other processes of this host the moment an append is stored.

A reader waiting in one gunicorn worker would otherwise see an entry appended
through another worker only at its next poll. Each process that has had a
waiting reader binds a unix datagram socket in one directory per database; an
append sends one byte to every other socket there, and the receiving process
wakes its readers, who look again. A socket whose process is gone refuses the
byte and is removed. Sending never blocks: a receiver with bytes queued has a
wake-up pending already. Readers on other hosts still see the entry at their
next poll (reading.py).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import logging
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def wakeup_directory(database: str) -> Path:
    """The directory the processes of this host serving ``database`` (as the store describes it) share."""
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"process-memory-wakeups-{os.getuid()}-{digest}"


def _remove(own: Path) -> None:
    """Take this process's socket away as it exits, and the directory with the last one."""
    with contextlib.suppress(OSError):
        own.unlink()
        own.parent.rmdir()  # fails, as it should, while another process's socket is there


def _name(failure: OSError) -> str:
    """The error's symbol (ENOSPC, say): never its text, which names paths."""
    return errno.errorcode.get(failure.errno or 0, "unknown error")


class HostWakeups:
    """Tell this host's other processes that an append was stored; hear them tell us."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pid: int | None = None
        self._sender: socket.socket | None = None
        self._own: Path | None = None
        self._guard = threading.Lock()

    def _for_this_process(self) -> socket.socket:
        if self._pid != os.getpid() or self._sender is None:  # a fork must not share its parent's sockets
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
            self._own, self._pid = None, os.getpid()
        return self._sender

    def announce(self) -> None:
        """Wake the waiting readers of every other process (best effort: they poll as well)."""
        sender = self._for_this_process()
        try:
            listeners = [entry.path for entry in os.scandir(self.directory) if entry.name.endswith(".sock")]
        except FileNotFoundError:
            return  # no process has had a reader waiting yet
        for path in listeners:
            if self._own is not None and path == str(self._own):
                continue
            try:
                sender.sendto(b"!", path)
            except ConnectionRefusedError:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # its process is gone
            except OSError as failure:
                if failure.errno not in (errno.EAGAIN, errno.ENOENT):
                    log.warning("could not wake the readers of another process (%s)", _name(failure))

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever another process announces; the first call in a process starts listening."""
        self._for_this_process()
        with self._guard:
            if self._own is not None:
                return
            try:
                receiver = self._bind()
            except OSError as failure:
                log.warning("live-tail readers here wake by polling only (%s)", _name(failure))
                self._own = Path("/")  # do not try again in this process
                return
        threading.Thread(target=self._listen, args=(receiver, wake), name="tail-wakeups", daemon=True).start()

    def _bind(self) -> socket.socket:
        own = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            receiver.bind(str(own))
        except FileNotFoundError:  # the last other process took the directory away as it exited
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            receiver.bind(str(own))
        self._own = own
        atexit.register(_remove, own)
        return receiver

    def _listen(self, receiver: socket.socket, wake: Callable[[], None]) -> None:
        while True:
            try:
                receiver.setblocking(True)
                receiver.recv(64)
                # One wake-up for every byte already queued. Not MSG_DONTWAIT: gevent's socket would wait anyway.
                receiver.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    while True:
                        receiver.recv(64)
            except OSError:
                return
            wake()
