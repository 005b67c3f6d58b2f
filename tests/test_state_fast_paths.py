"""The state stores' fast paths keep their rules: versions, keys, Redis' own expiry, the memory store's LRU order."""

from __future__ import annotations

import multiprocessing
import re
import uuid
from pathlib import Path

import pytest

from process_memory.stores import MemoryStore
from process_memory.stores.base import MAX_KEY_BYTES, check_key, new_version
from tests.conftest import FakeClock, make_state_store


def _child_version(results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    results.put(new_version())


def test_versions_are_32_hex_digits_and_a_forked_worker_draws_its_own() -> None:
    drawn = {new_version() for _ in range(10_000)}
    assert len(drawn) == 10_000 and all(re.fullmatch(r"[0-9a-f]{32}", version) for version in drawn)
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    workers = [fork.Process(target=_child_version, args=(results,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    children = {results.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(timeout=30)
    # Without reseeding at fork, both children would draw the parent's next version.
    assert len(children) == 2 and new_version() not in children


@pytest.mark.parametrize(
    ("key", "usable"),
    [
        ("k", True),
        ("€" * (MAX_KEY_BYTES // 3), True),  # 3 bytes each: 1,023 bytes
        ("𝄞" * (MAX_KEY_BYTES // 4), True),  # 4 bytes each: exactly the limit
        ("𝄞" * (MAX_KEY_BYTES // 4) + "a", False),
        ("a" * MAX_KEY_BYTES, True),
        ("a" * (MAX_KEY_BYTES + 1), False),
        ("a\0b", False),
        ("", False),
    ],
)
def test_keys_are_checked_the_same_on_the_short_path(key: str, usable: bool) -> None:
    if usable:
        assert check_key(key) == key
    else:
        with pytest.raises(ValueError):
            check_key(key)


def test_a_bounded_memory_store_still_drops_the_least_recently_used() -> None:
    store = MemoryStore(max_entries=2)
    store.set("a", b"1")
    store.set("b", b"2")
    assert store.get("a") == b"1"  # a is now the most recent
    store.set("c", b"3")
    assert (store.get("a"), store.get("b"), store.get("c")) == (b"1", None, b"3")
    store.set("a", b"4")  # rewriting a key makes it the most recent too
    store.set("d", b"5")
    assert (store.get("a"), store.get("c"), store.get("d")) == (b"4", None, b"5")


def test_redis_expires_what_has_an_expiry_and_keeps_what_was_rewritten_without_one(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = make_state_store("redis", request, tmp_path, FakeClock())
    client = store.client  # type: ignore[attr-defined]
    name = store._key("k")  # type: ignore[attr-defined]
    store.set("k", b"1", expires_in=100)
    assert 0 < client.pttl(name) <= 100_000
    store.set("k", b"2")  # unconditional, without expiry: Redis must not drop it in 100 s
    assert client.pttl(name) == -1 and store.get("k") == b"2"
    version = store.set("k", b"3", expires_in=50, if_version=store.get_versioned("k")[1])  # type: ignore[index]
    assert 0 < client.pttl(name) <= 50_000 and store.get_versioned("k") == (b"3", version)


def test_redis_reads_an_expired_value_as_gone_and_removes_it(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    clock = FakeClock()
    store = make_state_store("redis", request, tmp_path, clock)
    client = store.client  # type: ignore[attr-defined]
    store.set("k", b"1", expires_in=10)
    clock.advance(11)
    assert store.get("k") is None and client.exists(store._key("k")) == 0  # type: ignore[attr-defined]
    assert store.get(f"never-{uuid.uuid4()}") is None
