"""Waking the live-tail readers of this host's other processes: under gevent, as gunicorn runs it, and after a death."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

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
