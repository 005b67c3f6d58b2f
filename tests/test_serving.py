"""The gunicorn worker class (serving.py): stopping, with and without an app loaded."""

from __future__ import annotations

import signal
from pathlib import Path

from process_memory import create_app
from process_memory.config import Settings
from process_memory.services import services
from process_memory.serving import JSONErrorGeventWorker


def _worker() -> JSONErrorGeventWorker:
    # Only the state handle_exit reads: gunicorn builds the rest when it forks a worker.
    worker = JSONErrorGeventWorker.__new__(JSONErrorGeventWorker)
    worker.alive = True
    return worker


def test_a_worker_stopped_while_it_boots_just_stops() -> None:
    worker = _worker()  # no app loaded yet: SIGTERM can come that early
    worker.handle_exit(signal.SIGTERM, None)
    assert worker.alive is False


def test_stopping_a_worker_ends_its_live_tail_waits(tmp_path: Path) -> None:
    worker = _worker()
    worker.wsgi = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.sqlite3'}"))
    worker.handle_exit(signal.SIGTERM, None)
    history = services(worker.wsgi).history
    assert worker.alive is False and history.notifier.stopping
