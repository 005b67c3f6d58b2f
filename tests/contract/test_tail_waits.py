"""Live-tail waits, on every history backend: bounded, ended by a hang-up or a stop, counted."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from process_memory.entry import NewEntry
from process_memory.exceptions import TooManyWaiting
from process_memory.history.queries import HistoryQuery
from process_memory.history.service import HistoryService
from process_memory.history.wakeups import HostWakeups
from tests.services import wait_until


def _waiting_reader(service: HistoryService, iid: str, results: list[Any]) -> threading.Thread:
    reader = threading.Thread(
        target=lambda: results.append(service.reader.read_history(iid, HistoryQuery(after=0, wait=20)))
    )
    reader.start()
    wait_until(lambda: service.notifier.waiting == 1, 10, "the reader waiting")
    return reader


def test_past_the_bound_a_wait_is_refused_and_a_stop_ends_the_rest(service: HistoryService, iid: str) -> None:
    counted: list[int] = []
    service.notifier.waiting_listeners.append(counted.append)
    service.notifier.max_waiting = 1
    results: list[Any] = []
    reader = _waiting_reader(service, iid, results)
    with pytest.raises(TooManyWaiting, match="holds 1 live-tail readers already"):
        service.reader.read_history(iid, HistoryQuery(wait=5))
    assert service.reader.read_history(iid, HistoryQuery()).items == []  # a read that need not wait is served
    service.notifier.stop_waiting()
    reader.join(timeout=10)
    assert not reader.is_alive() and results[0].items == [] and service.notifier.waiting == 0
    assert counted == [1, -1]
    with pytest.raises(TooManyWaiting, match="stopping"):
        service.reader.read_history(iid, HistoryQuery(wait=5))


def test_a_wait_ends_when_its_client_has_gone(service: HistoryService, iid: str) -> None:
    checks: list[bool] = []

    def gone() -> bool:
        checks.append(False)
        return False

    page = service.reader.read_history(iid, HistoryQuery(wait=20), gone)
    assert page.items == [] and checks == [False] and service.notifier.waiting == 0


def test_an_append_wakes_a_waiting_reader(service: HistoryService, iid: str) -> None:
    service.appender.append_entry(iid, NewEntry(type="t", data=0))
    results: list[Any] = []
    reader = _waiting_reader(service, iid, results)
    service.appender.append_entry(iid, NewEntry(type="t", data=1))
    reader.join(timeout=10)
    assert [service.reader.data_of(entry) for entry in results[0].items] == [1] and service.notifier.waiting == 0


def test_an_append_in_another_process_wakes_a_waiting_reader(store: Any, iid: str, tmp_path: Any) -> None:
    # Each service stands for one gunicorn worker; with polling pushed out of reach, only the wake-up can answer.
    reader_side = HistoryService(store, 1_000_000, wakeups=HostWakeups(tmp_path / "wakeups"), tail_poll_seconds=3600)
    writer_side = HistoryService(store, 1_000_000, wakeups=HostWakeups(tmp_path / "wakeups"))
    writer_side.appender.append_entry(iid, NewEntry(type="t", data=0))
    results: list[Any] = []
    reader = _waiting_reader(reader_side, iid, results)
    writer_side.appender.append_entry(iid, NewEntry(type="t", data=1))
    reader.join(timeout=10)  # the wait itself is 20 s
    assert not reader.is_alive() and [reader_side.reader.data_of(entry) for entry in results[0].items] == [1]
