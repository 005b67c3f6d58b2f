"""Round trips to a MongoDB-wire engine per append and per head read, counted by pymongo's command monitoring on
both FerretDB handlers: what each path costs the engine, written down so that a change that adds one fails here.

Issue 29 asks for one round trip per append, two at most; these are the counts before that work: a summary read,
a look for an entry past the summary's head, the head entry itself, the tree hashes the new entry's record needs
(an ``_id`` lookup each), the insert and the summary's update.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from process_memory import create_app
from process_memory.config import Settings
from process_memory.entry import NewEntry
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.service import HistoryService
from process_memory.services import services


class Commands(monitoring.CommandListener):
    """Each command sent, as (name, collection)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(params=["ferretdb", "ferretdb_pg"])
def counted(request: pytest.FixtureRequest) -> Iterator[tuple[HistoryService, Commands]]:
    """A history service on one FerretDB handler, every command it sends recorded."""
    uri = request.getfixturevalue(request.param).uri
    commands = Commands()
    collection = f"t_{uuid.uuid4().hex[:12]}"

    def client(*args: Any, **kwargs: Any) -> MongoClient[Any]:
        return MongoClient(*args, event_listeners=[commands], **kwargs)

    store = MongoHistoryStore(uri, "pm_test", collection, client_factory=client)
    settings = Settings(docdb_uri=uri, docdb_database_name="pm_test", docdb_collection=collection)
    history = services(create_app(settings, history_store=store)).history
    history.appender.append_entry("warm-up", NewEntry(type="t", data=0))  # the indexes, made once
    yield history, commands
    store.collections.database().drop_collection(collection)
    store.close()


def _sent_by(commands: Commands, action: Any) -> list[str]:
    commands.sent.clear()
    action()
    return [
        f"{name} {collection.rsplit('_', 1)[-1] if collection.endswith('_instances') else 'entries'}"
        for name, collection in commands.sent
    ]


def test_round_trips_of_appends_and_head_reads(counted: tuple[HistoryService, Commands]) -> None:
    history, commands = counted
    append = lambda: history.appender.append_entry("i", NewEntry(type="t", data={"n": 1}))  # noqa: E731
    assert _sent_by(commands, append) == [  # seq 0: the summary is made before the entry
        "find instances",
        "update instances",
        "update instances",
        "insert entries",
        "update instances",
        "update instances",
    ]
    assert _sent_by(commands, append) == [  # seq 1: its record needs entry 0's tree hashes
        "find instances",
        "find entries",
        "find entries",
        "find entries",
        "insert entries",
        "update instances",
    ]
    assert _sent_by(commands, append) == [  # seq 2: its record needs none
        "find instances",
        "find entries",
        "find entries",
        "insert entries",
        "update instances",
    ]
    batch = lambda: history.appender.append_entries("i", [NewEntry(type="t", data=n) for n in range(10)])  # noqa: E731
    assert len(_sent_by(commands, batch)) == 7  # ten entries in one insert
    assert _sent_by(commands, lambda: history.reader.head("i")) == [
        "find instances",
        "find entries",
        "find entries",
    ]
