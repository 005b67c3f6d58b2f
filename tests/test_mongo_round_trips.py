"""Round trips to a MongoDB-wire engine per append and per head read, counted by pymongo's command monitoring on
both FerretDB handlers: what each path costs the engine, written down so that a change that adds one fails here.

Issue 29 asks for one round trip per append, two at most. Before it, a later append took 5 to 7 (the summary, a
look for an entry past its head, the head entry, an ``_id`` lookup per tree hash its record needs, the insert,
the summary's update) and a first one 6. Now an append reads the head, its hash and the tree's frontier from the
summary alone, then inserts and advances the summary: 3, and 4 for an instance's first (its placeholder summary).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from process_memory import create_app
from process_memory.config import Settings
from process_memory.entry import NewEntry
from process_memory.exceptions import Conflict
from process_memory.history.mongo import MongoHistoryStore
from process_memory.history.queries import HistoryQuery, SearchQuery
from process_memory.history.service import HistoryService
from process_memory.services import services


class Commands(monitoring.CommandListener):
    """Each command sent, as (name, collection); and the id of each cursor a reply left open on the server."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.left_open: list[int] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor")
        if cursor is not None and cursor["id"] != 0:
            self.left_open.append(cursor["id"])

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
    return _sent_by_names(commands)


def test_round_trips_of_appends_and_head_reads(counted: tuple[HistoryService, Commands]) -> None:
    history, commands = counted
    append = lambda: history.appender.append_entry("i", NewEntry(type="t", data={"n": 1}))  # noqa: E731
    later = ["find instances", "insert entries", "update instances"]
    # seq 0: the placeholder summary is made before the entry
    assert _sent_by(commands, append) == ["find instances", "update instances", "insert entries", "update instances"]
    for _ in range(7):  # seqs 1 to 7: records that need 0 to 3 older tree hashes, all kept with the summary
        assert _sent_by(commands, append) == later
    batch = lambda: history.appender.append_entries("i", [NewEntry(type="t", data=n) for n in range(10)])  # noqa: E731
    assert _sent_by(commands, batch) == later  # ten entries in one insert
    assert _sent_by(commands, lambda: history.reader.head("i")) == [
        "find instances",
        "find entries",
        "find entries",
    ]
    entries = history.store.entries.iter_chain("i")
    assert [entry.seq for entry in entries] == list(range(18))


def test_an_append_after_one_that_outran_the_summary_links_to_the_real_head(
    counted: tuple[HistoryService, Commands],
) -> None:
    history, commands = counted
    for n in range(5):
        history.appender.append_entry("o", NewEntry(type="t", data=n))
    store = history.store
    assert isinstance(store, MongoHistoryStore)
    entry_2 = history.reader.get_entry("o", 2)
    # As if the writers of seqs 3 and 4 stopped between their insert and the summary's update.
    store.collections.summaries().update_one(
        {"_id": "o"}, {"$set": {"head_seq": 2, "head_hash": entry_2.hash, "count": 3}}
    )
    commands.sent.clear()
    stored, created = history.appender.append_entry("o", NewEntry(type="t", data="after"), expected_head=4)
    assert (stored.seq, created) == (5, True)
    assert stored.prev_hash == history.reader.get_entry("o", 4).hash
    # The summary's head (2) is not the client's (4): the exact head is read, and the one insert links after it.
    assert [name for name, _ in commands.sent].count("insert") == 1
    assert history.verifier.verify("o").ok
    assert store.collections.summaries().find_one({"_id": "o"})["head_seq"] == 5
    store.collections.summaries().update_one({"_id": "o"}, {"$set": {"head_seq": 4, "head_hash": stored.prev_hash}})
    commands.sent.clear()  # without an expected head, the insert after the summary's head loses seq 5, then links
    assert history.appender.append_entry("o", NewEntry(type="t", data="last"))[0].seq == 6
    assert [name for name, _ in commands.sent].count("insert") == 2
    assert history.verifier.verify("o").ok


def test_the_summary_s_copy_of_the_frontier_goes_when_the_trees_are_rebuilt(
    counted: tuple[HistoryService, Commands],
) -> None:
    history, commands = counted
    for n in range(7):
        history.appender.append_entry("r", NewEntry(type="t", data=n))
    store = history.store
    assert isinstance(store, MongoHistoryStore)
    summary = store.collections.summaries().find_one({"_id": "r"})
    assert sorted(summary["tree_frontier"]) == ["3", "5", "6"]  # 7 = 4 + 2 + 1: [0, 4) by 3, [4, 6) by 5, [6] by 6
    assert bytes(summary["tree_frontier"]["5"]) == store.trees.tree_hashes("r", [5])[5]
    history.trees.rebuild_tree("r")
    assert "tree_frontier" not in store.collections.summaries().find_one({"_id": "r"})
    commands.sent.clear()
    history.appender.append_entry("r", NewEntry(type="t", data=7))  # seq 7 needs all three: each read again
    assert [name for name, _ in commands.sent].count("find") == 1 + 3
    assert history.verifier.verify("r").ok


def test_bounded_reads_come_in_one_batch_and_leave_no_cursor_open(counted: tuple[HistoryService, Commands]) -> None:
    # Past 101 documents, the engine's default first batch: without a batch size each read would need a getMore.
    history, commands = counted
    ids = [f"id-{n}" for n in range(150)]
    history.appender.append_entries("p", [NewEntry(type="t", data=n, id=entry_id) for n, entry_id in enumerate(ids)])
    history.appender.append_entries("p", [NewEntry(type="t", data=n) for n in range(100)])
    for n in range(105):
        history.appender.append_entry(f"l-{n:03d}", NewEntry(type="t", data=n))
    store = history.store
    assert isinstance(store, MongoHistoryStore)
    commands.left_open.clear()
    reads = {
        "a page of 200, forward": lambda: store.entries.find("p", HistoryQuery(limit=200)),
        "a page of 200, backward": lambda: store.entries.find("p", HistoryQuery(limit=200, direction="backward")),
        "150 entries by id": lambda: list(store.entries.get_by_ids("p", ids).values()),
        "a search for 200": lambda: store.search_index.search(SearchQuery(limit=200), None),
        "a list of 105 instances": lambda: store.summaries.list_summaries("l-", 105),
    }
    for what, read in reads.items():
        found: list[Any] = []
        sent = _sent_by(commands, lambda: found.extend(read()))  # noqa: B023
        # A list of summaries looks for entries past their heads: all of them in one more query.
        assert sent == (["find instances", "find entries"] if what.startswith("a list") else ["find entries"]), what
        assert len(found) == {"150 entries by id": 150, "a list of 105 instances": 105}.get(what, 200), what
    assert commands.left_open == []


def test_an_append_with_a_client_s_id_costs_no_look_up_and_its_retry_is_answered_from_the_store(
    counted: tuple[HistoryService, Commands],
) -> None:
    history, commands = counted
    history.appender.append_entry("c", NewEntry(type="t", data=0))
    append = lambda: history.appender.append_entry("c", NewEntry(type="t", data=1, id="made-by-the-client"))  # noqa: E731
    # The unique (instance_id, id) key would refuse a stored id: it is not looked up before the insert.
    assert _sent_by(commands, append) == ["find instances", "insert entries", "update instances"]
    first = history.reader.get_entry("c", 1)
    stored, created = append()  # the client's retry, its first answer lost
    assert (stored.seq, stored.hash, created) == (1, first.hash, False)
    with pytest.raises(Conflict):
        history.appender.append_entry("c", NewEntry(type="t", data=2, id="made-by-the-client"))
    assert [entry.seq for entry in history.store.entries.iter_chain("c")] == [0, 1]
    assert history.store.summaries.summary("c").head_seq == 1  # the refused insert left the summary as it was


def test_writers_of_one_instance_in_one_process_queue_instead_of_racing(
    counted: tuple[HistoryService, Commands],
) -> None:
    history, commands = counted
    history.appender.append_entry("hot", NewEntry(type="t", data=-1))
    commands.sent.clear()

    def writer(n: int) -> None:
        for k in range(5):
            history.appender.append_entry("hot", NewEntry(type="t", data=[n, k]))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Each append inserted once: none lost a race to another writer of this process and tried again.
    assert [name for name, _ in commands.sent].count("insert") == 40
    assert [entry.seq for entry in history.store.entries.iter_chain("hot")] == list(range(41))
    assert history.verifier.verify("hot").ok


def test_a_lost_race_links_next_to_the_summary_s_head_once_the_winner_moved_it_on(
    counted: tuple[HistoryService, Commands], monkeypatch: pytest.MonkeyPatch
) -> None:
    history, commands = counted
    for n in range(3):
        history.appender.append_entry("w", NewEntry(type="t", data=n))
    entries = history.store.entries
    before_the_winner = entries.chain_head("w")  # what a writer read just before another appended seq 3
    history.appender.append_entry("w", NewEntry(type="t", data="the winner's"))
    real_chain_head = entries.chain_head
    answers = iter([before_the_winner])
    stale_once = lambda iid, exact=False: next(answers, None) or real_chain_head(iid, exact)  # noqa: E731
    monkeypatch.setattr(entries, "chain_head", stale_once)
    commands.sent.clear()
    stored, created = history.appender.append_entry("w", NewEntry(type="t", data="the loser's"))
    assert (stored.seq, created) == (4, True)
    # The lost insert, the look at its seq's key, the ids; then the summary (already at 3), the insert, the update:
    # not the exact head's reads, which the summary would have needed only had it not moved past seq 2.
    assert _sent_by_names(commands) == [
        "insert entries",
        "find entries",
        "find entries",
        "find instances",
        "insert entries",
        "update instances",
    ]
    assert history.verifier.verify("w").ok


def _sent_by_names(commands: Commands) -> list[str]:
    return [
        f"{name} {collection.rsplit('_', 1)[-1] if collection.endswith('_instances') else 'entries'}"
        for name, collection in commands.sent
    ]
