"""process-memory: the processing memory of data applications, over HTTP.

The service is built by ``create_app`` (app.py), imported on first use: the client and its command
(process_memory.client) speak only HTTP, and start without loading the service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from process_memory.app import create_app as create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """``process_memory.create_app``, imported when first asked for (PEP 562)."""
    if name == "create_app":
        from process_memory.app import create_app

        return create_app
    raise AttributeError(f"module 'process_memory' has no attribute {name!r}")
