"""One database client per process, made on first use: a client from before a fork is never reused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from process_memory.db import ProcessLocalEngine
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
