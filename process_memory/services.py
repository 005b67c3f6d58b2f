"""The app's services, in one typed object: what ``create_app`` builds and every route, command and worker hook
reads (``services()``), instead of strings looked up in ``app.extensions``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:  # annotations only: whoever reads the services need not load them
    from process_memory.anchoring.loop import AnchoringLoop
    from process_memory.history.service import HistoryService
    from process_memory.memory.queries import LineageService
    from process_memory.memory.service import MemoryService
    from process_memory.state import ExpirySweeper, StateService
    from process_memory.stores import StateStore

#: The one key the services are kept under in ``app.extensions``.
_KEY = "process_memory"


@dataclass
class Services:
    """Everything a request may need, built once per app."""

    history: HistoryService
    memory: MemoryService
    lineage: LineageService
    #: The instances' state (its namespace of the state store).
    state: StateService
    #: The whole state store, for readiness and the sweeper.
    state_root: StateStore
    sweeper: ExpirySweeper
    #: The service log's anchoring loop; None when anchoring is off (no signing key, or 0 seconds).
    anchoring: AnchoringLoop | None = None
    #: Set once this process has answered that a whole store's data is damaged (``/readyz`` says so from then on).
    damaged_store: bool = False

    def prepare_schemas(self) -> None:
        """Create the history's collections or tables and indexes, and the SQL state store's table, when missing:
        gunicorn's master does it once before any worker serves, so that workers starting together on a new
        database do not all race to create them."""
        from process_memory.stores import SQLStore

        self.history.store.ensure_schema()
        if isinstance(self.state_root, SQLStore):
            self.state_root.ensure_schema()

    def close(self) -> None:
        """Close this process's connections to the stores (the master's, before it forks workers)."""
        self.history.store.close()
        self.state_root.close()

    def install(self, app: Flask) -> None:
        """Keep the services with ``app``."""
        app.extensions[_KEY] = self


def services(app: Flask | None = None) -> Services:
    """Return the services of ``app`` (default: the current app)."""
    found: Services = (app or current_app).extensions[_KEY]
    return found


def services_if_any(app: Flask | None) -> Services | None:
    """Return the services of ``app``, or None when it has none yet (a worker stopping before its app is made)."""
    return getattr(app, "extensions", {}).get(_KEY)
