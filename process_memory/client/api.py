"""The client of the HTTP API: what every data-platform service otherwise writes by hand.

Appends carry ids made here, so a retry never stores twice; batches are split at 1,000; pages are followed
by their cursors; the live tail reconnects and resumes after the last seq it gave; export and import stream.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import httpx

from process_memory.client.errors import BadUrl, ConnectionFailed, Unavailable, error_of
from process_memory.client.state import StateClient
from process_memory.client.transport import RETRIED_STATUSES, RetryPolicy, reason_of, send, shown_url

#: Where the client looks when it is given no URL or key.
URL_VARIABLE, KEY_VARIABLE = "PROCESS_MEMORY_URL", "PROCESS_MEMORY_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
#: Seconds to wait for an answer (the command line: for the service, its retries included).
DEFAULT_TIMEOUT = 30.0
#: The most entries the service takes in one batch.
BATCH_SIZE = 1000
#: Bytes read or written at a time while streaming an export or an import.
CHUNK_BYTES = 1024 * 1024
#: Called with the bytes moved since the last call (a progress bar's advance).
Progress = Callable[[int], None]


def _no_progress(_: int) -> None:
    return None


def checked_url(url: str) -> str:
    """The service's address without a trailing slash; BadUrl, saying what to give instead, when it cannot be one
    (no scheme or host, or the API's own path at its end: the client adds ``/api/v1``)."""
    text = url.strip().rstrip("/")
    try:
        parsed = httpx.URL(text if "://" in text else f"http://{text}")
    except httpx.InvalidURL as invalid:
        raise BadUrl(f"the service's URL is not one ({invalid}); give one such as {DEFAULT_URL}") from None
    shown = str(parsed.copy_with(userinfo=b"")).rstrip("/")  # never a password in a message
    if "://" not in text or parsed.scheme not in ("http", "https") or not parsed.host:
        raise BadUrl(f"the service's URL needs http:// or https:// and a host: give one such as {shown}")
    if parsed.path.rstrip("/").endswith("/api/v1"):
        raise BadUrl(f"give the service's URL without /api/v1, which the client adds: {shown.removesuffix('/api/v1')}")
    return text


class Client:
    """A connection to one process-memory service, kept alive across calls."""

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = checked_url(url or os.environ.get(URL_VARIABLE) or DEFAULT_URL)
        key = key if key is not None else os.environ.get(KEY_VARIABLE)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = url
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.http = httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=timeout, transport=transport)
        #: The instances' working state.
        self.state = StateClient(self)

    def close(self) -> None:
        """Close the kept-alive connections."""
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """Send a request with the client's retries; raise the typed error of a failed answer."""
        return send(self.http, method, path, self.retry, **options)

    # -- appends ---------------------------------------------------------------

    def append(
        self,
        instance: str,
        type: str,
        data: Any,
        *,
        metadata: Mapping[str, Any] | None = None,
        id: str | None = None,
        occurred_at: str | None = None,
        if_match: int | None = None,
    ) -> dict[str, Any]:
        """Append an entry and return it as stored; ``if_match`` is the head seq it must follow (-1: empty)."""
        body = _entry_body({"type": type, "data": data, "metadata": metadata, "id": id, "occurred_at": occurred_at})
        headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
        answer: dict[str, Any] = self.request(
            "POST", f"/instances/{instance}/history", json=body, headers=headers
        ).json()
        return answer

    def append_many(self, instance: str, entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Append entries in order, in batches of 1,000, each with an id (made here when missing); return each one's
        ``{id, seq, hash, outcome}``."""
        results: list[dict[str, Any]] = []
        remaining = iter(entries)
        while batch := [_entry_body(entry) for entry in itertools.islice(remaining, BATCH_SIZE)]:
            answer = self.request("POST", f"/instances/{instance}/history/batch", json={"entries": batch})
            results += answer.json()["results"]
        return results

    # -- reads -----------------------------------------------------------------

    def history(
        self,
        instance: str,
        direction: Literal["forward", "backward"] = "forward",
        *,
        type: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after: int | None = None,
        before: int | None = None,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Every entry that matches, page after page, following the cursors (``after``/``before``: where to start)."""
        cursor_name, cursor = ("after", after) if direction == "forward" else ("before", before)
        filters = {"direction": direction, "type": type, "since": since, "until": until, "limit": page_size}
        for n, page in enumerate(self._pages(f"/instances/{instance}/history", filters, cursor_name, cursor)):
            if n == 0 and not page["items"] and page["next"] is None:
                self.instance(instance)  # an instance that has no entry does not exist: NotFound, as its summary says
            yield from page["items"]

    def instances(
        self,
        prefix: str | None = None,
        page_size: int = 100,
        *,
        sort: str = "id",
        type: str | None = None,
        failed: bool | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every instance's summary (of ids that start with ``prefix``; whose last entry has ``type``; whose last
        entry records a failure, or not, by ``failed``), by id, by last activity (``sort="recent"``) or by size
        (``"size"``), page after page."""
        failed_text = None if failed is None else str(failed).lower()
        filters = {"prefix": prefix, "limit": page_size, "sort": sort, "type": type, "failed": failed_text}
        for page in self._pages("/instances", filters):
            yield from page["items"]

    def search(
        self, *, type: str | None = None, since: str | None = None, until: str | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every entry of every instance (that the key reaches) that matches, by recorded time, page after page."""
        filters = {"type": type, "since": since, "until": until, "limit": page_size}
        for page in self._pages("/history", filters):
            yield from page["items"]

    def _pages(
        self, path: str, filters: Mapping[str, Any], cursor_name: str = "after", cursor: Any = None
    ) -> Iterator[dict[str, Any]]:
        """Each page of a listing, following its ``next`` cursor from ``cursor``."""
        while True:
            query = {name: value for name, value in {**filters, cursor_name: cursor}.items() if value is not None}
            page: dict[str, Any] = self.request("GET", path, params=query).json()
            yield page
            if page["next"] is None:
                return
            cursor = page["next"]

    def tail(self, instance: str, after: int = -1, wait: int = 30, type: str | None = None) -> Iterator[dict[str, Any]]:
        """Every entry after seq ``after`` as it is appended, for ever: a server that restarts or is unreachable for
        a while is waited for, and the tail goes on after the last seq it gave."""
        query: dict[str, Any] = {"wait": wait, **({"type": type} if type else {})}
        while True:
            try:
                answer = self.request(
                    "GET", f"/instances/{instance}/history", params={**query, "after": after}, timeout=wait + 15
                )
            except (ConnectionFailed, Unavailable):
                continue  # each request retried with backoff already; keep waiting for the server
            for entry in answer.json()["items"]:
                after = entry["seq"]
                yield entry

    def instance(self, instance: str) -> dict[str, Any]:
        """The instance's summary: count, head, first and last times."""
        return self._get(f"/instances/{instance}")

    def head(self, instance: str) -> dict[str, Any]:
        """The newest entry."""
        return self._get(f"/instances/{instance}/head")

    def verify(self, instance: str) -> dict[str, Any]:
        """The service's check of the instance's chain: ``{ok, checked, first_bad_seq}``."""
        return self._get(f"/instances/{instance}/verify")

    def checkpoint(self, instance: str, size: int | None = None) -> dict[str, Any]:
        """A signed checkpoint of the instance's tree (default: every entry)."""
        return self._get(f"/instances/{instance}/checkpoint", size=size)

    def proof(self, instance: str, seq: int, size: int | None = None) -> dict[str, Any]:
        """The proof that the entry at ``seq`` is in the tree of ``size`` entries (default: every entry)."""
        return self._get(f"/instances/{instance}/proof/inclusion", seq=seq, size=size)

    def consistency(self, instance: str, old: int, new: int | None = None) -> dict[str, Any]:
        """The proof that the tree of ``new`` entries (default: every entry) begins with the tree of ``old``."""
        return self._get(f"/instances/{instance}/proof/consistency", **{"from": old, "to": new})

    def verifier_keys(self) -> dict[str, Any]:
        """The keys that check this service's checkpoints: ``{origin, keys}``."""
        return self._get("/keys")

    def _get(self, path: str, **query: Any) -> dict[str, Any]:
        params = {name: value for name, value in query.items() if value is not None}
        answer: dict[str, Any] = self.request("GET", path, params=params).json()
        return answer

    # -- export and import -----------------------------------------------------

    def export(
        self, instance: str, path: str | Path, progress: Progress = _no_progress, entries: Progress = _no_progress
    ) -> int:
        """Stream the instance's export to ``path`` (whole or not at all); return the bytes written. ``progress``
        hears of the bytes written, ``entries`` of the entries (lines) completed."""
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        for attempt in range(self.retry.attempts):
            try:
                with self.http.stream("GET", f"/instances/{instance}/export") as answer:
                    if answer.status_code not in RETRIED_STATUSES or attempt == self.retry.attempts - 1:
                        if answer.status_code >= 400:
                            answer.read()
                            raise error_of(answer)
                        written = _write_stream(answer, partial, progress, entries)
                        partial.replace(target)
                        return written
            except httpx.TransportError as failure:
                if attempt == self.retry.attempts - 1:
                    url = shown_url(self.http, f"/instances/{instance}/export")
                    raise ConnectionFailed(f"GET {url}: {reason_of(failure, self.http.timeout)}") from None
            self.retry.sleep(self.retry.delay(attempt, None))
        raise AssertionError("unreachable: the last try returns or raises")

    def import_(self, path: str | Path, instance: str, progress: Progress = _no_progress) -> dict[str, Any]:
        """Import an export file into an empty instance (sent again, an interrupted import completes)."""
        source = Path(path)

        def body() -> Iterator[bytes]:
            with source.open("rb") as file:
                while chunk := file.read(CHUNK_BYTES):
                    progress(len(chunk))
                    yield chunk

        headers = {"Content-Type": "application/x-ndjson", "Content-Length": str(source.stat().st_size)}
        answer: dict[str, Any] = self.request(
            "POST", f"/instances/{instance}/import", content=body, headers=headers
        ).json()
        return answer


def _entry_body(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A posted entry with an id (a retry then stores nothing twice) and without the fields left unset."""
    body = {name: value for name, value in entry.items() if value is not None or name == "data"}
    body.setdefault("id", str(uuid.uuid4()))
    return body


def _write_stream(answer: httpx.Response, partial: Path, progress: Progress, entries: Progress) -> int:
    written = 0
    with partial.open("wb") as file:
        for chunk in answer.iter_bytes(CHUNK_BYTES):
            file.write(chunk)
            written += len(chunk)
            progress(len(chunk))
            entries(chunk.count(b"\n"))  # one entry per line
    return written
