"""Waking the live-tail readers of this host's other processes: under gevent, as gunicorn runs it, and after a death."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

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


def _listeners() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "tail-wakeups"}


def test_a_listener_binds_in_a_private_directory_it_makes_with_its_parents(tmp_path: Path) -> None:
    directory = tmp_path / "run" / "wakeups"
    before = _listeners()
    first, second = HostWakeups(directory), HostWakeups(directory)
    first.subscribe(lambda: None)
    second.subscribe(lambda: None)  # the directory is there already: the second binds beside the first
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(path.name for path in directory.iterdir())
    assert len(names) == 2 and all(re.fullmatch(rf"{os.getpid()}-[0-9a-f]{{8}}\.sock", name) for name in names)
    assert all(stat.S_ISSOCK((directory / name).stat().st_mode) for name in names)
    started = _listeners() - before
    assert len(started) == 2 and all(thread.daemon for thread in started)  # they never keep a worker from exiting


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the wake-ups logged: another test's app may have a background thread logging meanwhile."""
    return [record.getMessage() for record in caplog.records if record.name == "process_memory.history.wakeups"]


def test_a_listener_that_cannot_bind_leaves_its_readers_polling_and_says_why_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("")
    wakeups = HostWakeups(tmp_path / "a-file" / "wakeups")
    before = _listeners()
    with caplog.at_level(logging.WARNING, logger="process_memory.history.wakeups"):
        wakeups.subscribe(lambda: None)
        wakeups.subscribe(lambda: None)  # not tried again in this process
    assert _said(caplog) == ["live-tail readers here wake by polling only (ENOTDIR)"]
    assert _listeners() == before


def test_a_failure_without_an_error_number_is_named_without_its_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: HostWakeups) -> socket.socket:
        raise OSError("/secret/path/of/the/socket")

    monkeypatch.setattr(HostWakeups, "_bind", refuse)
    with caplog.at_level(logging.WARNING, logger="process_memory.history.wakeups"):
        HostWakeups(tmp_path).subscribe(lambda: None)
    assert _said(caplog) == ["live-tail readers here wake by polling only (unknown error)"]


def test_a_directory_taken_away_before_the_bind_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "run" / "wakeups"
    taken: list[str] = []

    class TakenAway(socket.socket):
        def bind(self, address: Any) -> None:
            if not taken:  # the last other process exits between our mkdir and our bind, and takes the directory
                taken.append(address)
                shutil.rmtree(tmp_path / "run")
            super().bind(address)

    monkeypatch.setattr(socket, "socket", TakenAway)
    before = _listeners()
    wakeups = HostWakeups(directory)
    wakeups.subscribe(lambda: None)
    wakeups.subscribe(lambda: None)  # bound: not again
    assert len(taken) == 1 and stat.S_IMODE(directory.stat().st_mode) == 0o700
    [own] = directory.iterdir()
    assert str(own) == taken[0] and stat.S_ISSOCK(own.stat().st_mode)
    assert len(_listeners() - before) == 1
