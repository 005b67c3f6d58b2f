"""RedisStore: state in Redis, shared by every process and host; native expiry, SCAN for deletes.

Each value is a hash (``v`` value, ``ver`` version, ``exp`` deadline) under
``<prefix><namespace path>:<key>``. Namespace names cannot hold ``:``, so the
first ``:`` after the prefix ends the path and no key of one namespace can be
mistaken for another's. Conditional writes run as Lua scripts, atomically on
the server. The deadline is also kept in the hash and checked against this
store's clock, so expiry is testable without sleeping; Redis' own expiry
removes the key at the same moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis as redis_py

from process_memory.db import unavailable_on
from process_memory.stores.base import StateStore, VersionConflict, new_version, remaining_seconds

_unavailable_on_redis_error = unavailable_on(redis_py.ConnectionError, redis_py.TimeoutError)

# KEYS[1] key; ARGV: now, mode ("any" | "version" | "absent"), expected version, value, new version,
# deadline ("" for none), ttl in ms ("" for none). Returns 1 when written, 0 when the condition failed.
_SET = """
local cur = redis.call('HMGET', KEYS[1], 'ver', 'exp')
local live = cur[1] and (cur[2] == '' or tonumber(cur[2]) > tonumber(ARGV[1]))
if ARGV[2] == 'version' and (not live or cur[1] ~= ARGV[3]) then return 0 end
if ARGV[2] == 'absent' and live then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[4], 'ver', ARGV[5], 'exp', ARGV[6])
if ARGV[7] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[7]) end
return 1
"""

# An unconditional write, which reads nothing first. The three fields are all a value's hash holds, so
# HSET replaces it whole. KEYS[1] key; ARGV: value, version, deadline ("" for none), ttl in ms ("" for none).
_PUT = """
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'ver', ARGV[2], 'exp', ARGV[3])
if ARGV[4] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[4]) else redis.call('PERSIST', KEYS[1]) end
return 1
"""

# KEYS[1] key; ARGV: now, renew deadline ("" for no renewal), renew ttl in ms. Returns {value, version, exp} or nil.
_GET = """
local cur = redis.call('HMGET', KEYS[1], 'v', 'ver', 'exp')
if not cur[2] then return nil end
if cur[3] ~= '' and tonumber(cur[3]) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return nil
end
if ARGV[2] ~= '' and cur[3] ~= '' then
  redis.call('HSET', KEYS[1], 'exp', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  cur[3] = ARGV[2]
end
return cur
"""

# KEYS[1] key; ARGV: now, expected version ("" for any). Returns 1 deleted, 0 nothing live, -1 other version.
_DELETE = """
local cur = redis.call('HMGET', KEYS[1], 'ver', 'exp')
local live = cur[1] and (cur[2] == '' or tonumber(cur[2]) > tonumber(ARGV[1]))
if not live then
  if cur[1] then redis.call('DEL', KEYS[1]) end
  if ARGV[2] ~= '' then return -1 end
  return 0
end
if ARGV[2] ~= '' and cur[1] ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[1])
return 1
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisStore(StateStore):
    """State in Redis hashes, safe across processes and hosts."""

    def __init__(
        self,
        client: redis_py.Redis | str,
        prefix: str = "process_memory:state:",
        clock: Callable[[], float] = time.time,
        *,
        _namespace: str = "",
    ) -> None:
        super().__init__(clock)
        if isinstance(client, str):
            client = redis_py.Redis.from_url(client, socket_timeout=5, socket_connect_timeout=5)
        self.client = client
        self.prefix = prefix
        self._namespace = _namespace
        self._set_script = client.register_script(_SET)
        self._put_script = client.register_script(_PUT)
        self._get_script = client.register_script(_GET)
        self._delete_script = client.register_script(_DELETE)

    def _key(self, key: str) -> str:
        return f"{self.prefix}{self._namespace}:{key}"

    def _fetch(self, key: str, renew: float | None) -> tuple[bytes, str, float | None] | None:
        now = self.clock()
        if renew is None:
            # A plain read of a live value is one HMGET: a script call costs half as much again.
            fields: list[bytes | None] = self.client.hmget(self._key(key), "v", "ver", "exp")  # type: ignore[assignment]
            value, version, deadline = fields
            if version is None or value is None:
                return None
            if not deadline or float(deadline) > now:
                return value, version.decode(), float(deadline) if deadline else None
            # Expired: the script below removes it, as it checks, in one step.
        renewal = ["", ""] if renew is None else [repr(now + renew), str(int(renew * 1000))]
        found = self._get_script(keys=[self._key(key)], args=[repr(now), *renewal])
        if found is None:
            return None
        value, version, deadline = found
        return value, version.decode(), float(deadline) if deadline else None

    @_unavailable_on_redis_error
    def _get(self, key: str, renew: float | None) -> bytes | None:
        found = self._fetch(key, renew)
        return found[0] if found else None

    @_unavailable_on_redis_error
    def _get_versioned(self, key: str) -> tuple[bytes, str] | None:
        found = self._fetch(key, None)
        return (found[0], found[1]) if found else None

    @_unavailable_on_redis_error
    def _set(self, key: str, data: bytes, ttl: float | None, if_version: str | None, if_absent: bool) -> str:
        # The condition is checked in the same script that writes.
        now = self.clock()
        mode = "version" if if_version is not None else "absent" if if_absent else "any"
        version = new_version()
        expiry = ["", ""] if ttl is None else [repr(now + ttl), str(max(1, int(ttl * 1000)))]
        if mode == "any":
            self._put_script(keys=[self._key(key)], args=[data, version, *expiry])
            return version
        args: list[Any] = [repr(now), mode, if_version or "", data, version, *expiry]
        if self._set_script(keys=[self._key(key)], args=args) != 1:
            raise VersionConflict(key)
        return version

    @_unavailable_on_redis_error
    def _delete(self, key: str, if_version: str | None) -> bool:
        outcome = self._delete_script(keys=[self._key(key)], args=[repr(self.clock()), if_version or ""])
        if outcome == -1:
            raise VersionConflict(key)
        return outcome == 1

    def _patterns(self) -> list[str]:
        base = _glob_escape(self.prefix + self._namespace)
        if not self._namespace:
            return [_glob_escape(self.prefix) + "*"]
        return [base + ":*", base + "/*"]  # this namespace's keys, and its children's

    @_unavailable_on_redis_error
    def delete_all(self) -> None:
        """Delete this namespace's keys and its children's, found with SCAN (never FLUSHDB)."""
        for pattern in self._patterns():
            batch: list[bytes] = []
            for name in self.client.scan_iter(match=pattern, count=500):
                batch.append(name)
                if len(batch) >= 500:
                    self.client.unlink(*batch)
                    batch = []
            if batch:
                self.client.unlink(*batch)

    @_unavailable_on_redis_error
    def _expires_in(self, key: str) -> int | None:
        found = self._fetch(key, None)
        return remaining_seconds(found[2], self.clock()) if found else None

    def delete_expired(self) -> int:
        """Nothing to do: Redis expires keys itself."""
        return 0

    def _child(self, name: str) -> RedisStore:
        path = f"{self._namespace}/{name}" if self._namespace else name
        return RedisStore(self.client, self.prefix, self.clock, _namespace=path)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()
