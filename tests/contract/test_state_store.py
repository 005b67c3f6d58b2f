"""The StateStore contract, run against every backend: memory, file, SQLite, PostgreSQL, Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from process_memory.stores import FileStore, MemoryStore, SQLStore, StateStore, VersionConflict
from process_memory.stores.base import MAX_KEY_BYTES

STATE_BACKENDS = ["memory", "file", "sqlite", "postgresql", "redis"]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock."""
    return FakeClock()


def make_state_store(name: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> StateStore:
    """A root store over one backend, private to the test."""
    if name == "memory":
        return MemoryStore(clock=clock)
    if name == "file":
        return FileStore(tmp_path / "state", clock=clock)
    if name == "sqlite":
        return SQLStore(f"sqlite:///{tmp_path / 'state.sqlite3'}", clock=clock)
    if name == "postgresql":
        return SQLStore(request.getfixturevalue("postgres").url, table=f"state_{uuid.uuid4().hex[:12]}",
                        clock=clock)
    from process_memory.stores.redis import RedisStore

    return RedisStore(request.getfixturevalue("redis_server").url, prefix=f"t{uuid.uuid4().hex[:12]}:",
                      clock=clock)


@pytest.fixture(params=STATE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[StateStore]:
    """A root state store over one backend."""
    state = make_state_store(request.param, request, tmp_path, clock)
    yield state
    state.delete_all()
    if isinstance(state, SQLStore) and request.param == "postgresql":
        state.table.drop(state._engine.get())
    state.close()


def test_set_get_delete(store: StateStore) -> None:
    assert store.get("k") is None and not store.exists("k")
    store.set("k", b"\x00\xff binary")
    assert store.get("k") == b"\x00\xff binary" and store.exists("k")
    store.set("k", "text is UTF-8: ✓")
    assert store.get("k") == "text is UTF-8: ✓".encode()
    store.set("empty", b"")
    assert store.get("empty") == b""
    assert store.delete("k") is True
    assert store.delete("k") is False
    assert store.get("k") is None


def test_every_byte_value_round_trips(store: StateStore) -> None:
    value = bytes(range(256)) * 64
    store.set("bytes", value)
    assert store.get("bytes") == value


def test_versions_change_on_every_write(store: StateStore) -> None:
    first = store.set("k", b"1")
    assert store.get_versioned("k") == (b"1", first)
    second = store.set("k", b"1")
    assert second != first and store.get_versioned("k") == (b"1", second)
    assert store.get_versioned("missing") is None


def test_compare_and_set(store: StateStore) -> None:
    version = store.set("k", b"1")
    newer = store.set("k", b"2", if_version=version)
    with pytest.raises(VersionConflict):
        store.set("k", b"lost update", if_version=version)
    assert store.get_versioned("k") == (b"2", newer)
    with pytest.raises(VersionConflict):
        store.set("missing", b"x", if_version=version)
    assert store.get("missing") is None


def test_create_only(store: StateStore) -> None:
    store.set("k", b"first", if_absent=True)
    with pytest.raises(VersionConflict):
        store.set("k", b"second", if_absent=True)
    assert store.get("k") == b"first"
    with pytest.raises(ValueError):
        store.set("k", b"x", if_version="v", if_absent=True)


def test_conditional_delete(store: StateStore) -> None:
    version = store.set("k", b"1")
    with pytest.raises(VersionConflict):
        store.delete("k", if_version="0" * 32)
    assert store.get("k") == b"1"
    assert store.delete("k", if_version=version) is True
    with pytest.raises(VersionConflict):
        store.delete("k", if_version=version)


def test_expiry_follows_the_clock(store: StateStore, clock: FakeClock) -> None:
    store.set("k", b"v", expires_in=10)
    store.set("forever", b"v")
    clock.advance(9)
    assert store.get("k") == b"v" and store.expires_in("k") == 1
    assert store.expires_in("forever") is None and store.expires_in("missing") is None
    clock.advance(1.5)
    assert store.get("k") is None and not store.exists("k") and store.expires_in("k") is None
    assert store.get("forever") == b"v"


def test_renewal(store: StateStore, clock: FakeClock) -> None:
    store.set("k", b"v", expires_in=timedelta(seconds=10))
    store.set("forever", b"v")
    clock.advance(8)
    assert store.get("k", renew_for=10) == b"v"
    assert store.expires_in("k") == 10
    clock.advance(8)
    assert store.get("k") == b"v"  # renewed: would have expired 6 s ago
    assert store.get("forever", renew_for=10) == b"v" and store.expires_in("forever") is None
    clock.advance(3)
    assert store.get("k") is None


def test_expired_values_do_not_satisfy_conditions(store: StateStore, clock: FakeClock) -> None:
    version = store.set("k", b"old", expires_in=5)
    clock.advance(6)
    with pytest.raises(VersionConflict):
        store.set("k", b"x", if_version=version)
    store.set("k", b"new", if_absent=True)  # an expired value counts as absent
    assert store.get("k") == b"new"


def test_delete_expired(store: StateStore, clock: FakeClock) -> None:
    store.set("short", b"v", expires_in=5)
    store.with_namespace("child").set("short", b"v", expires_in=5)
    store.set("long", b"v", expires_in=50)
    store.set("forever", b"v")
    clock.advance(10)
    store.delete_expired()
    assert [store.exists(k) for k in ("short", "long", "forever")] == [False, True, True]
    assert not store.with_namespace("child").exists("short")


@pytest.mark.parametrize("bad", [0, -1, float("inf")])
def test_expiry_must_be_positive(store: StateStore, bad: float) -> None:
    with pytest.raises(ValueError):
        store.set("k", b"v", expires_in=bad)


def test_namespaces_are_separate(store: StateStore) -> None:
    a, b, ab = store.with_namespace("a"), store.with_namespace("b"), store.with_namespace("ab")
    child = a.with_namespace("c")
    for view, value in ((store, b"root"), (a, b"a"), (b, b"b"), (ab, b"ab"), (child, b"a/c")):
        view.set("k", value)
    # Keys shaped like another namespace's path must not reach into it.
    store.set("a:k", b"root a:k")
    store.set("a/k", b"root a/k")
    assert [v.get("k") for v in (store, a, b, ab, child)] == [b"root", b"a", b"b", b"ab", b"a/c"]

    a.delete_all()
    assert a.get("k") is None and child.get("k") is None
    assert [v.get("k") for v in (store, b, ab)] == [b"root", b"b", b"ab"]
    assert store.get("a:k") == b"root a:k" and store.get("a/k") == b"root a/k"

    store.delete_all()
    assert [v.get("k") for v in (store, b, ab)] == [None, None, None]


@pytest.mark.parametrize(
    "key",
    ["/", "..", "../../etc/passwd", "a/b", "C:\\\\Windows", "ключ🔑", "'; DROP TABLE x; --", "*?[]%_",
     " spaced ", "a:b", "x" * MAX_KEY_BYTES, "é" * (MAX_KEY_BYTES // 2)],
)
def test_any_key_is_safe(store: StateStore, key: str) -> None:
    store.set(key, key.encode())
    store.set("other", b"other")
    assert store.get(key) == key.encode()
    assert store.delete(key) is True and store.get("other") == b"other"


@pytest.mark.parametrize("key", ["", "nul\0inside", "x" * (MAX_KEY_BYTES + 1)])
def test_unusable_keys_are_refused(store: StateStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.set(key, b"v")


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "a:b", "x" * 65, "ü"])
def test_unusable_namespace_names_are_refused(store: StateStore, name: str) -> None:
    with pytest.raises(ValueError):
        store.with_namespace(name)


def test_memory_store_is_bounded_least_recently_used_first(clock: FakeClock) -> None:
    store = MemoryStore(max_entries=3, clock=clock)
    for key in "abc":
        store.set(key, key.encode())
    store.get("a")  # now b is the least recently used
    store.set("d", b"d")
    assert [store.exists(k) for k in "abcd"] == [True, False, True, True]
