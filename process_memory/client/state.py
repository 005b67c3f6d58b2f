"""The client's side of an instance's working state: read, write on a version, and compare-and-set loops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from process_memory.client.errors import NotFound, PreconditionFailed

if TYPE_CHECKING:
    from process_memory.client.api import Client

#: How many times ``update`` reads and tries again before giving up to a state that never stops changing.
MAX_UPDATE_ATTEMPTS = 1000


def quoted(etag: str) -> str:
    """An ETag as HTTP writes it: one typed without its quotes (a shell strips them) gets them back."""
    if etag == "*" or etag.startswith(('"', 'W/"')):
        return etag
    return f'"{etag}"'


@dataclass(frozen=True)
class Versioned:
    """A state and its version (the ETag to send back as If-Match)."""

    value: Any
    etag: str


class StateClient:
    """``client.state``: one small JSON document per instance, with versions."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, instance: str) -> Versioned | None:
        """The instance's state and its version; None when it has none."""
        try:
            answer = self._client.request("GET", f"/instances/{instance}/state")
        except NotFound:
            return None
        return Versioned(answer.json(), answer.headers["ETag"])

    def put(self, instance: str, value: Any, etag: str | None = None, *, ttl: int | None = None) -> Versioned:
        """Store ``value``: over version ``etag`` only, or, with ``etag=""``, only when there is no state yet;
        with None, whatever is there. Raises PreconditionFailed when the condition does not hold."""
        headers = {"If-None-Match": "*"} if etag == "" else {"If-Match": quoted(etag)} if etag else {}
        params = {"ttl": ttl} if ttl is not None else {}
        answer = self._client.request("PUT", f"/instances/{instance}/state", json=value, headers=headers, params=params)
        return Versioned(answer.json(), answer.headers["ETag"])

    def delete(self, instance: str, etag: str | None = None) -> bool:
        """Delete the state (only version ``etag`` when given); False when there was none."""
        headers = {"If-Match": quoted(etag)} if etag else {}
        try:
            self._client.request("DELETE", f"/instances/{instance}/state", headers=headers)
        except NotFound:
            return False
        return True

    def update(self, instance: str, change: Callable[[Any], Any], *, ttl: int | None = None) -> Versioned:
        """Replace the state with ``change(current)`` (``current`` None when there is none), as one compare-and-set:
        when another writer got there first, read again and call ``change`` again. Return what was stored."""
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = self.get(instance)
            new = change(current.value if current else None)
            try:
                return self.put(instance, new, current.etag if current else "", ttl=ttl)
            except PreconditionFailed:
                continue
        raise PreconditionFailed(412, "precondition_failed", f"the state kept changing: {MAX_UPDATE_ATTEMPTS} tries")
