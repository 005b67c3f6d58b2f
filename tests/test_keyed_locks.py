"""KeyedLocks: writers of one key queue, writers of another do not wait, and nothing is kept once all have left."""

from __future__ import annotations

import threading
import time

from process_memory.db import KeyedLocks


def _poll(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.001)
    return False


def test_one_key_queues_another_does_not_and_nothing_is_kept() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def first() -> None:
        with locks.held("a"):
            order.append("first in")
            inside.set()
            release.wait(5)
            order.append("first out")

    def second() -> None:
        with locks.held("a"):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert inside.wait(5)
    threads[1].start()
    assert _poll(lambda: locks._locks["a"][1] == [2])  # the second is waiting for "a"
    with locks.held("b"):  # another key is free while "a" is held
        order.append("other key")
    assert "second in" not in order
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["first in", "other key", "first out", "second in"]
    assert locks._locks == {}


def test_a_block_that_raises_releases_its_key() -> None:
    locks = KeyedLocks()
    try:
        with locks.held("a"):
            raise ValueError("the block failed")
    except ValueError:
        pass
    assert locks._locks == {}
    with locks.held("a"):  # would block forever had the lock been kept
        pass


def test_the_holder_may_take_its_key_again() -> None:
    locks = KeyedLocks()
    with locks.held("a"), locks.held("a"):  # a write inside a write of the same instance
        assert locks._locks["a"][1] == [2]
    assert locks._locks == {}
