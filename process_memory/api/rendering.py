"""The one way an entry leaves the service: JSON text made from its stored canonical JSON.

Services return entries as stored (``StoredEntry``); every route that answers with entries renders them here.
The data and metadata are spliced in as stored, never parsed and dumped again (``entry.py``,
``entry_json``), so a 15 MB entry costs one copy. The text has the fields and key order ``EntrySchema`` would
dump (a property test holds them equal), and the schema still documents it in the OpenAPI description.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from flask import Response

from process_memory.chain import CanonicalJSON, canonical_json
from process_memory.entry import StoredEntry, entry_json
from process_memory.paging import Page
from process_memory.services import services

if TYPE_CHECKING:
    from process_memory.history.context import HistoryContext

#: Marks "the data was not posted with this request" where JSON null is a valid value.
NOT_POSTED: Any = object()


def _history() -> Any:
    return services().history


def entry_body(stored: StoredEntry, posted: Any = NOT_POSTED, context: HistoryContext | None = None) -> bytes:
    """The entry as JSON text. An appender passes the data it posted (the same bytes as stored: the data's digest
    is part of an entry's content), which spares reading offloaded data back; a page passes the history's context
    it looked up once."""
    # Text in hand is used as it is; a parsed value only when the other way is reading offloaded data back.
    known = posted is not NOT_POSTED and (stored.data_json is None or isinstance(posted, CanonicalJSON))
    if known:
        return entry_json(stored, canonical_json(posted))
    return entry_json(stored, (context or _history().context).data_bytes(stored))


def entry_response(
    stored: StoredEntry, status: int = 200, headers: dict[str, str] | None = None, posted: Any = NOT_POSTED
) -> Response:
    """Answer one entry. flask-smorest passes a Response on as it is, so the text goes out as rendered."""
    # Ended as jsonify ends its JSON; two pieces, so that a 15 MB entry is not copied to add a byte.
    return Response([entry_body(stored, posted), b"\n"], status, headers, mimetype="application/json")


def page_response(page: Page[StoredEntry], headers: dict[str, str]) -> Response:
    """Answer a page of entries as ``api.paged`` answers other pages: items and ``next`` in the body."""
    context = _history().context
    items = b",".join(entry_body(stored, context=context) for stored in page.items)
    body = b'{"items":[' + items + b'],"next":' + json.dumps(page.next).encode() + b"}"
    return Response([body, b"\n"], 200, headers, mimetype="application/json")


def entry_lines(entries: Iterable[StoredEntry]) -> Iterator[bytes]:
    """Entries as NDJSON, one line each: what an export is."""
    context = _history().context
    for stored in entries:
        yield entry_body(stored, context=context) + b"\n"
