"""The instance state service: one small mutable JSON document per instance, in a StateStore.

The HTTP layer speaks ETags; this layer speaks versions. Values are stored as
canonical JSON bytes, so GET returns them without decoding and re-encoding.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from process_memory.background import PeriodicThread
from process_memory.chain import canonical_json
from process_memory.exceptions import InvalidInput, NotFound, PreconditionFailed, StoreCorrupt
from process_memory.formats import check_instance_id
from process_memory.stores import StateStore, VersionConflict

log = logging.getLogger(__name__)

#: The namespace of instance state inside the configured state store.
INSTANCE_STATE_NAMESPACE = "instance_state"


@dataclass(frozen=True)
class StoredState:
    """A state document as stored: canonical JSON and its version."""

    json: bytes
    version: str


class StateService:
    """Read, replace and delete instance state with optimistic concurrency."""

    def __init__(self, store: StateStore, default_ttl: int | None = None) -> None:
        self.store = store
        self.default_ttl = default_ttl

    def get_state(self, instance_id: str) -> StoredState:
        """Return the instance's state."""
        found = self.store.get_versioned(check_instance_id(instance_id))
        if found is None:
            raise NotFound("the instance has no state", {"instance_id": instance_id})
        return StoredState(*found)

    def put_state(
        self,
        instance_id: str,
        value: Any,
        *,
        if_match: str | None = None,
        create_only: bool = False,
        ttl: int | None = None,
    ) -> tuple[StoredState, bool]:
        """Replace (or create) the state; return it and whether it was created.

        ``if_match`` is a version or ``*`` (any existing state); ``create_only``
        refuses to replace. A failed condition raises PreconditionFailed.
        """
        key = check_instance_id(instance_id)
        try:
            document = canonical_json(value)
        except ValueError:
            raise InvalidInput("the state holds a number JSON cannot represent") from None
        expires_in = ttl or self.default_ttl
        try:
            if create_only:
                return StoredState(document, self.store.set(key, document, expires_in, if_absent=True)), True
            if if_match is not None:
                expected = if_match if if_match != "*" else self._current_version(key)
                return StoredState(document, self.store.set(key, document, expires_in, if_version=expected)), False
            try:
                return StoredState(document, self.store.set(key, document, expires_in, if_absent=True)), True
            except VersionConflict:
                return StoredState(document, self.store.set(key, document, expires_in)), False
        except VersionConflict:
            raise PreconditionFailed("the state has changed", {"instance_id": instance_id}) from None

    def _current_version(self, key: str) -> str:
        found = self.store.get_versioned(key)
        if found is None:
            raise VersionConflict(key)
        return found[1]

    def _exists(self, key: str) -> bool:
        try:
            return self.store.get_versioned(key) is not None
        except StoreCorrupt:
            return True  # a damaged value is still a value: a condition on it failed, it did not vanish

    def delete_state(self, instance_id: str, if_match: str | None = None) -> None:
        """Delete the state; 404 when there is none, 412 when ``if_match`` is stale."""
        key = check_instance_id(instance_id)
        try:
            expected = self._current_version(key) if if_match == "*" else if_match
            deleted = self.store.delete(key, if_version=expected)
        except VersionConflict:
            if not self._exists(key):
                raise NotFound("the instance has no state", {"instance_id": instance_id}) from None
            raise PreconditionFailed("the state has changed", {"instance_id": instance_id}) from None
        if not deleted:
            raise NotFound("the instance has no state", {"instance_id": instance_id})


class ExpirySweeper(PeriodicThread):
    """Deletes expired state in the background of each worker, so no request pays for a scan."""

    thread_name = "state-expiry-sweeper"

    def __init__(self, store: StateStore, interval_seconds: float) -> None:
        super().__init__(interval_seconds)
        self.store = store

    def pause(self, elapsed: float) -> float:
        """Jitter spreads the workers' sweeps apart."""
        return self.interval * random.uniform(0.5, 1.0)

    def tick(self) -> None:
        """Delete what has expired."""
        try:
            removed = self.store.delete_expired()
            if removed:
                log.info("deleted %d expired state values", removed)
        except Exception as error:  # a database hiccup must not end the sweeper
            log.warning("state expiry sweep failed: %s", type(error).__name__)
