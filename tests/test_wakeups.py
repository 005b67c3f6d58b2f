"""Waking the live-tail readers of this host's other processes: under gevent, as gunicorn runs it, and after a death."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from process_memory.history.wakeups import HostWakeups
from tests.services import ROOT

#: Two processes' wake-ups in one gevent process: one listens, the other announces twice over.
_UNDER_GEVENT = """
from gevent import monkey
monkey.patch_all()
import sys, threading
from pathlib import Path
from process_memory.history.wakeups import HostWakeups
directory = Path(sys.argv[1])
woken = threading.Event()
HostWakeups(directory).subscribe(woken.set)
other = HostWakeups(directory)
for _ in range(2):  # the second round finds the listener back at its blocking receive
    other.announce()
    other.announce()
    print("woken" if woken.wait(10) else "asleep")
    woken.clear()
"""


def test_an_announcement_wakes_a_listener_under_gevent(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_GEVENT, str(tmp_path / "wakeups")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.stdout.split() == ["woken", "woken"], done.stderr


def test_a_listener_that_is_gone_is_forgotten(tmp_path: Path) -> None:
    directory = tmp_path / "wakeups"
    directory.mkdir()
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    gone.bind(str(directory / "1-dead.sock"))
    gone.close()  # its file stays, as a killed process's would
    HostWakeups(directory).announce()
    assert list(directory.iterdir()) == []


def test_an_announcement_reaches_the_listeners_after_its_own_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "wakeups"
    speaker, listener = HostWakeups(directory), HostWakeups(directory)
    heard = threading.Event()
    speaker.subscribe(lambda: None)  # the speaker listens too, so its own socket is in the directory
    listener.subscribe(heard.set)
    real_scandir = os.scandir
    # Its own socket first: skipping it must not end the round.
    own = Path(str(speaker._own)).name
    monkeypatch.setattr(os, "scandir", lambda path: sorted(real_scandir(path), key=lambda entry: entry.name != own))
    speaker.announce()
    assert heard.wait(10)
