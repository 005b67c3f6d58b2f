"""The StateStore contract, run against every backend: memory, file, SQLite, PostgreSQL, Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest

from process_memory.stores import MemoryStore, StateStore, VersionConflict
from process_memory.stores.base import MAX_KEY_BYTES
from process_memory.stores.redis import RedisStore
from tests.conftest import FakeClock


def test_set_get_delete(state_store: StateStore) -> None:
    assert state_store.get("k") is None and not state_store.exists("k")
    state_store.set("k", b"\x00\xff binary")
    assert state_store.get("k") == b"\x00\xff binary" and state_store.exists("k")
    state_store.set("k", "text is UTF-8: ✓")
    assert state_store.get("k") == "text is UTF-8: ✓".encode()
    state_store.set("empty", b"")
    assert state_store.get("empty") == b""
    assert state_store.delete("k") is True
    assert state_store.delete("k") is False
    assert state_store.get("k") is None


def test_every_byte_value_round_trips(state_store: StateStore) -> None:
    value = bytes(range(256)) * 64
    state_store.set("bytes", value)
    assert state_store.get("bytes") == value


def test_versions_change_on_every_write(state_store: StateStore) -> None:
    first = state_store.set("k", b"1")
    assert state_store.get_versioned("k") == (b"1", first)
    second = state_store.set("k", b"1")
    assert second != first and state_store.get_versioned("k") == (b"1", second)
    assert state_store.get_versioned("missing") is None


def test_compare_and_set(state_store: StateStore) -> None:
    version = state_store.set("k", b"1")
    newer = state_store.set("k", b"2", if_version=version)
    with pytest.raises(VersionConflict):
        state_store.set("k", b"lost update", if_version=version)
    assert state_store.get_versioned("k") == (b"2", newer)
    with pytest.raises(VersionConflict):
        state_store.set("missing", b"x", if_version=version)
    assert state_store.get("missing") is None


def test_create_only(state_store: StateStore) -> None:
    state_store.set("k", b"first", if_absent=True)
    with pytest.raises(VersionConflict):
        state_store.set("k", b"second", if_absent=True)
    assert state_store.get("k") == b"first"
    with pytest.raises(ValueError, match="^if_version and if_absent exclude each other$"):
        state_store.set("k", b"x", if_version="v", if_absent=True)


def test_conditional_delete(state_store: StateStore) -> None:
    version = state_store.set("k", b"1")
    with pytest.raises(VersionConflict):
        state_store.delete("k", if_version="0" * 32)
    assert state_store.get("k") == b"1"
    assert state_store.delete("k", if_version=version) is True
    with pytest.raises(VersionConflict):
        state_store.delete("k", if_version=version)


def test_expiry_follows_the_clock(state_store: StateStore, clock: FakeClock) -> None:
    state_store.set("k", b"v", expires_in=10)
    state_store.set("forever", b"v")
    clock.advance(9)
    assert state_store.get("k") == b"v" and state_store.expires_in("k") == 1
    assert state_store.expires_in("forever") is None and state_store.expires_in("missing") is None
    clock.advance(1.5)
    assert state_store.get("k") is None and not state_store.exists("k") and state_store.expires_in("k") is None
    assert state_store.get("forever") == b"v"


def test_renewal(state_store: StateStore, clock: FakeClock) -> None:
    state_store.set("k", b"v", expires_in=timedelta(seconds=10))
    state_store.set("forever", b"v")
    clock.advance(8)
    assert state_store.get("k", renew_for=10) == b"v"
    assert state_store.expires_in("k") == 10
    clock.advance(8)
    assert state_store.get("k") == b"v"  # renewed: would have expired 6 s ago
    assert state_store.get("forever", renew_for=10) == b"v" and state_store.expires_in("forever") is None
    clock.advance(3)
    assert state_store.get("k") is None


def test_expired_values_do_not_satisfy_conditions(state_store: StateStore, clock: FakeClock) -> None:
    version = state_store.set("k", b"old", expires_in=5)
    clock.advance(6)
    with pytest.raises(VersionConflict):
        state_store.set("k", b"x", if_version=version)
    state_store.set("k", b"new", if_absent=True)  # an expired value counts as absent
    assert state_store.get("k") == b"new"


def test_delete_expired(state_store: StateStore, clock: FakeClock) -> None:
    state_store.set("short", b"v", expires_in=5)
    state_store.with_namespace("child").set("short", b"v", expires_in=5)
    state_store.set("long", b"v", expires_in=50)
    state_store.set("forever", b"v")
    clock.advance(10)
    state_store.delete_expired()
    assert [state_store.exists(k) for k in ("short", "long", "forever")] == [False, True, True]
    assert not state_store.with_namespace("child").exists("short")


@pytest.mark.parametrize("bad", [0, -1, 0.0, float("inf"), float("nan")])
def test_expiry_must_be_positive(state_store: StateStore, bad: float) -> None:
    with pytest.raises(ValueError, match="^an expiry is a positive, finite number of seconds$"):
        state_store.set("k", b"v", expires_in=bad)
    assert not state_store.exists("k")


def test_a_value_is_gone_exactly_at_its_deadline(state_store: StateStore, clock: FakeClock) -> None:
    version = state_store.set("k", b"v", expires_in=5)
    state_store.set("renewed", b"v", expires_in=5)
    state_store.set("other", b"v", expires_in=0.5)  # a fraction of a second still counts as one
    assert state_store.expires_in("other") == 1
    clock.advance(4.5)
    assert (state_store.get("k"), state_store.expires_in("k")) == (b"v", 1)
    clock.advance(0.5)
    assert (state_store.get("k"), state_store.exists("k"), state_store.expires_in("k")) == (None, False, None)
    assert state_store.get("renewed", renew_for=10) is None
    with pytest.raises(VersionConflict):
        state_store.set("k", b"new", if_version=version)
    assert state_store.delete("k") is False
    state_store.set("k", b"again", if_absent=True)  # an expired value does not block a create
    assert state_store.get("k") == b"again"


def test_sweeping_counts_what_it_removed(state_store: StateStore, clock: FakeClock) -> None:
    for key in ("a", "b", "c"):
        state_store.set(key, b"v", expires_in=5)
    state_store.set("kept", b"v")
    clock.advance(5)
    # Redis expires keys itself, so its sweep has nothing to count.
    assert state_store.delete_expired() == (0 if isinstance(state_store, RedisStore) else 3)
    assert [state_store.exists(key) for key in ("a", "b", "c", "kept")] == [False, False, False, True]
    assert state_store.delete_expired() == 0


def test_a_value_must_be_bytes_or_text(state_store: StateStore) -> None:
    with pytest.raises(TypeError, match="^a value is bytes or str$"):
        state_store.set("k", 5)  # type: ignore[arg-type]
    state_store.set("k", "text ✓")
    assert state_store.get("k") == "text ✓".encode()


def test_namespaces_are_separate(state_store: StateStore) -> None:
    a, b, ab = state_store.with_namespace("a"), state_store.with_namespace("b"), state_store.with_namespace("ab")
    child = a.with_namespace("c")
    for view, value in ((state_store, b"root"), (a, b"a"), (b, b"b"), (ab, b"ab"), (child, b"a/c")):
        view.set("k", value)
    # Keys shaped like another namespace's path must not reach into it.
    state_store.set("a:k", b"root a:k")
    state_store.set("a/k", b"root a/k")
    assert [v.get("k") for v in (state_store, a, b, ab, child)] == [b"root", b"a", b"b", b"ab", b"a/c"]

    a.delete_all()
    assert a.get("k") is None and child.get("k") is None
    assert [v.get("k") for v in (state_store, b, ab)] == [b"root", b"b", b"ab"]
    assert state_store.get("a:k") == b"root a:k" and state_store.get("a/k") == b"root a/k"

    state_store.delete_all()
    assert [v.get("k") for v in (state_store, b, ab)] == [None, None, None]


@pytest.mark.parametrize(
    "key",
    [
        "/",
        "..",
        "../../etc/passwd",
        "a/b",
        "C:\\\\Windows",
        "ключ🔑",
        "'; DROP TABLE x; --",
        "*?[]%_",
        " spaced ",
        "a:b",
        "x" * MAX_KEY_BYTES,
        "é" * (MAX_KEY_BYTES // 2),
    ],
)
def test_any_key_is_safe(state_store: StateStore, key: str) -> None:
    state_store.set(key, key.encode())
    state_store.set("other", b"other")
    assert state_store.get(key) == key.encode()
    assert state_store.delete(key) is True and state_store.get("other") == b"other"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "a key is a non-empty string"),
        (5, "a key is a non-empty string"),
        ("nul\0inside", "a key cannot contain NUL"),
        ("x" * (MAX_KEY_BYTES + 1), f"a key is at most {MAX_KEY_BYTES} bytes of UTF-8"),
        ("é" * (MAX_KEY_BYTES // 2 + 1), f"a key is at most {MAX_KEY_BYTES} bytes of UTF-8"),
    ],
)
def test_unusable_keys_are_refused(state_store: StateStore, key: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{reason}$"):
        state_store.set(key, b"v")


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "a:b", "x" * 65, "ü"])
def test_unusable_namespace_names_are_refused(state_store: StateStore, name: str) -> None:
    with pytest.raises(ValueError, match="^a namespace name is 1-64 characters of A-Z a-z 0-9 . _ - not starting"):
        state_store.with_namespace(name)


def test_memory_store_is_bounded_least_recently_used_first(clock: FakeClock) -> None:
    state_store = MemoryStore(max_entries=3, clock=clock)
    for key in "abc":
        state_store.set(key, key.encode())
    state_store.get("a")  # now b is the least recently used
    state_store.set("d", b"d")
    assert [state_store.exists(k) for k in "abcd"] == [True, False, True, True]


@pytest.mark.parametrize("bound", [0, -1])
def test_a_memory_store_holds_at_least_one_value(bound: int) -> None:
    with pytest.raises(ValueError, match="^max_entries is at least 1$"):
        MemoryStore(max_entries=bound)
    one = MemoryStore(max_entries=1)
    one.set("a", b"a")
    one.set("b", b"b")
    assert (one.get("a"), one.get("b")) == (None, b"b")


def test_conditions_see_the_deadline_before_anything_reads_the_value(state_store: StateStore, clock: FakeClock) -> None:
    live = state_store.set("live", b"v", expires_in=10)
    assert state_store.set("live", b"v2", if_version=live) != live  # a value with an expiry is live until then
    assert state_store.delete("live") is True
    expired = state_store.set("k", b"v", expires_in=5)
    clock.advance(5)
    # No read comes first (a read may clean the expired value up): the write's own condition must see it.
    with pytest.raises(VersionConflict):
        state_store.set("k", b"new", if_version=expired)
    assert state_store.delete("k") is False
