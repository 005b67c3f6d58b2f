"""One database client per process, made on first use and prepared once: a client from before a fork is never
reused."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from process_memory.db import ProcessLocal, ProcessLocalEngine
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.sql import SQLHistoryStore
from tests.conftest import _MongomockClient


def test_the_mongo_client_is_made_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    def factory(*args: Any, **kwargs: Any) -> Any:
        made.append(kwargs)
        return _MongomockClient()

    store = MongoHistoryStore("mongodb://db.invalid", "platform", "pm", client_factory=factory)
    assert made == []  # nothing is opened at start-up (gunicorn has not forked yet)
    store.entries.head("a")
    store.entries.head("b")
    assert len(made) == 1
    assert made[0]["retryWrites"] is False and made[0]["serverSelectionTimeoutMS"] == 5000
    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)  # as in a forked worker
    store.entries.head("a")
    assert len(made) == 2


def test_the_sql_engine_is_made_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLHistoryStore(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    engine_holder: ProcessLocalEngine = store.engine
    first = engine_holder.get()
    assert engine_holder.get() is first
    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)
    assert engine_holder.get() is not first


def test_threads_arriving_together_prepare_the_client_once() -> None:
    prepared: list[object] = []
    preparing, second_arrived = threading.Event(), threading.Event()

    def prepare(client: object) -> None:
        prepared.append(client)
        preparing.set()
        second_arrived.wait(0.5)  # the second thread asks meanwhile; it must wait, not prepare again

    clients = ProcessLocal(object, prepare)
    first = threading.Thread(target=clients.get)
    first.start()
    assert preparing.wait(10)
    second_arrived.set()
    got = clients.get()
    first.join(10)
    assert prepared == [got]
