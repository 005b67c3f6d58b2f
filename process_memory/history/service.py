"""The history service: appends, reads and verification over any HistoryStore.

Sequence numbers, the hash chain, idempotent retries and the inline/offload
threshold are decided here, once, so every backend behaves the same. Without
multi-document transactions, an append is made safe by the store's unique
``(instance_id, seq)`` and ``(instance_id, id)`` constraints: the writer that
inserts a seq first wins and every other writer re-reads the head and retries.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import snappy

from process_memory.chain import canonical_json, entry_hash, sha256_hex
from process_memory.exceptions import (
    Conflict,
    DuplicateEntry,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServiceError,
    StoreUnavailable,
)
from process_memory.history.store import HistoryQuery, HistoryStore, InstanceSummary, SearchQuery, StoredEntry

log = logging.getLogger(__name__)

INSTANCE_ID_PATTERN = r"[A-Za-z0-9._:-]{1,128}"
_INSTANCE_ID_RE = re.compile(INSTANCE_ID_PATTERN)
#: Metadata is for small descriptive fields; it always stays inline next to the entry.
MAX_METADATA_BYTES = 256 * 1024
#: How often one append re-reads the head after losing a race before answering 503.
MAX_APPEND_ATTEMPTS = 100
#: How often a live-tail reader looks for entries appended by other processes.
TAIL_POLL_SECONDS = 0.2
#: Entries per batch when cloning or importing (bounds memory to this many entries' data).
COPY_CHUNK = 100
#: Marks "data not given" where JSON null is a valid value.
_UNSET: Any = object()


class CorruptEntry(ServiceError):
    """An entry's stored data cannot be read back; ``verify`` names it."""

    code = "corrupt_entry"


@dataclass(frozen=True)
class NewEntry:
    """An entry as a client posts it, already validated by the API schema."""

    type: str
    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    occurred_at: datetime | None = None


@dataclass
class _PreparedEntry:
    """An entry canonicalised and hashed as far as it can be before it has a place in the chain."""

    id: str
    data_bytes: bytes
    metadata_json: str
    fields: dict[str, Any]
    #: False when the server made the id: such an entry cannot exist before this call stores it.
    client_id: bool = True
    blob_ref: str | None = None

    @property
    def content(self) -> tuple[Any, ...]:
        """What makes two entries with one id the same entry (compared as stored)."""
        return (self.fields["type"], self.fields["data_sha256"], self.metadata_json, self.fields["occurred_at"])


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking an instance's chain."""

    ok: bool
    checked: int
    first_bad_seq: int | None


def utc_now() -> datetime:
    """Return the current time in UTC (the default clock)."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """Return ``moment`` as RFC 3339 UTC with millisecond precision, e.g. ``2026-01-02T03:04:05.678Z``."""
    # isoformat, not strftime: strftime("%Y") drops the leading zeros of years before 1000.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_instance_id(instance_id: str) -> str:
    """Return ``instance_id`` when it is 1-128 characters of ``[A-Za-z0-9._:-]``."""
    if not _INSTANCE_ID_RE.fullmatch(instance_id):
        raise InvalidInput("invalid instance id", {"instance_id": ["1-128 characters of A-Z a-z 0-9 . _ : -"]})
    return instance_id


class HistoryService:
    """Append, read and verify per-instance histories over a HistoryStore."""

    def __init__(
        self,
        store: HistoryStore,
        max_inline_data: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.max_inline_data = max_inline_data
        self.clock = clock
        # Wakes live-tail readers in this process at once; other processes' appends are polled.
        self._appended = threading.Condition()
        #: Called with the entries each successful insert created (metrics, for one).
        self.listeners: list[Callable[[list[StoredEntry]], None]] = []

    # -- writing -------------------------------------------------------------

    def append_entry(
        self, instance_id: str, new: NewEntry, expected_head: int | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Append an entry; return it and whether it was created (False: a safe retry).

        ``expected_head`` is the seq the client believes is the head (-1 for an
        empty instance); another head raises PreconditionFailed.
        """
        [(stored, created)] = self.append_entries(instance_id, [new], expected_head)
        return self._render(stored, new.data if created else _UNSET), created

    def append_entries(
        self, instance_id: str, news: list[NewEntry], expected_head: int | None = None
    ) -> list[tuple[StoredEntry, bool]]:
        """Append entries in order; return each stored entry and whether this call created it.

        An entry whose id is stored already with the same content is not stored
        again (a batch that failed half-way can be sent again as it was); with
        other content the whole call raises Conflict and stores nothing more.
        New entries go to the store in one round trip per attempt.
        """
        check_instance_id(instance_id)
        prepared = [self._prepare(instance_id, new) for new in news]
        # An id repeated in one batch follows the rule across requests: same content, one entry; else 409.
        first_of: dict[str, _PreparedEntry] = {}
        for entry in prepared:
            earlier = first_of.setdefault(entry.id, entry)
            if earlier.content != entry.content:
                raise Conflict("an id appears twice in the batch with other content", {"id": entry.id})
        outcome = {
            stored.id: (stored, created)
            for stored, created in self._append_unique(instance_id, list(first_of.values()), expected_head)
        }
        results, seen = [], set()
        for entry in prepared:
            stored, created = outcome[entry.id]
            results.append((stored, created and entry.id not in seen))
            seen.add(entry.id)
        return results

    def _append_unique(
        self, instance_id: str, prepared: list[_PreparedEntry], expected_head: int | None
    ) -> list[tuple[StoredEntry, bool]]:
        """Append entries whose ids are distinct; see append_entries."""
        results: list[tuple[StoredEntry, bool] | None] = [None] * len(prepared)
        expected = expected_head
        # Offloaded data is ours to delete only while no entry can refer to it: not after
        # an insert that failed ambiguously (a timeout), which the orphan sweep decides.
        ambiguous: set[int] = set()
        try:
            for attempt in range(MAX_APPEND_ATTEMPTS):
                # After a lost race our own entries may be stored already, whoever made their ids.
                pending = self._settle_existing(instance_id, prepared, results, every_id=attempt > 0)
                if not pending:
                    break
                head = self.store.head(instance_id)
                head_seq = head.seq if head else -1
                if expected is not None and expected != head_seq:
                    raise PreconditionFailed("the instance's head has moved", {"head": head_seq})
                batch = self._chain(instance_id, [prepared[i] for i in pending], head)
                ambiguous = set(pending)
                try:
                    self.store.insert_many(batch)
                except DuplicateEntry as clash:
                    # Another writer took a seq (or an id): keep what was stored, re-read and retry.
                    ambiguous = set()
                    for i, stored in zip(pending[: clash.inserted], batch):
                        results[i] = (stored, True)
                    self._announce(batch[: clash.inserted])
                    if clash.inserted and expected is not None:
                        expected = batch[clash.inserted - 1].seq
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                    continue
                ambiguous = set()
                for i, stored in zip(pending, batch):
                    results[i] = (stored, True)
                self._announce(batch)
                break
            else:
                raise StoreUnavailable("too many concurrent appends to this instance", retry_after=1)
        finally:
            for i, entry in enumerate(prepared):
                result = results[i]
                created = result is not None and result[1]
                if entry.blob_ref is not None and not created and i not in ambiguous:
                    self._delete_blob_quietly(entry.blob_ref)
        return [result for result in results if result is not None]

    def _prepare(self, instance_id: str, new: NewEntry) -> _PreparedEntry:
        try:
            data_bytes = canonical_json(new.data)
            metadata_bytes = canonical_json(new.metadata)
        except ValueError:
            raise InvalidInput("data holds a number JSON cannot represent", {"data": ["not finite"]}) from None
        if len(metadata_bytes) > MAX_METADATA_BYTES:
            raise InvalidInput("metadata too large", {"metadata": [f"at most {MAX_METADATA_BYTES} bytes of JSON"]})
        entry_id = new.id or str(uuid.uuid4())
        fields = {
            "instance_id": instance_id,
            "id": entry_id,
            "type": new.type,
            "occurred_at": format_timestamp(new.occurred_at) if new.occurred_at else None,
            "metadata": new.metadata,
            "size": len(data_bytes),
            "data_sha256": sha256_hex(data_bytes),
        }
        return _PreparedEntry(entry_id, data_bytes, metadata_bytes.decode(), fields, new.id is not None)

    def _settle_existing(
        self,
        instance_id: str,
        prepared: list[_PreparedEntry],
        results: list[tuple[StoredEntry, bool] | None],
        every_id: bool,
    ) -> list[int]:
        """Record entries already stored (safe retries); return the positions still to append."""
        pending = [i for i, result in enumerate(results) if result is None]
        ids = [prepared[i].id for i in pending if every_id or prepared[i].client_id]
        existing = self.store.get_by_ids(instance_id, ids) if ids else {}
        for i in pending:
            found = existing.get(prepared[i].id)
            if found is None:
                continue
            if (found.type, found.data_sha256, found.metadata_json, found.occurred_at) != prepared[i].content:
                raise Conflict("an entry with this id exists with other content", {"id": found.id, "seq": found.seq})
            results[i] = (found, False)
        return [i for i in pending if results[i] is None]

    def _chain(self, instance_id: str, entries: list[_PreparedEntry], head: StoredEntry | None) -> list[StoredEntry]:
        """Give the entries consecutive seqs after ``head`` and link their hashes."""
        recorded_at = format_timestamp(self.clock())
        seq, prev_hash = (head.seq, head.hash) if head else (-1, None)
        chained = []
        for entry in entries:
            if len(entry.data_bytes) > self.max_inline_data and entry.blob_ref is None:
                entry.blob_ref = self.store.put_blob(instance_id, entry.id, snappy.compress(entry.data_bytes))
            seq += 1
            fields = {**entry.fields, "seq": seq, "prev_hash": prev_hash, "recorded_at": recorded_at}
            stored = StoredEntry(
                metadata_json=entry.metadata_json,
                hash=entry_hash(fields),
                data_json=None if entry.blob_ref else entry.data_bytes.decode(),
                blob_ref=entry.blob_ref,
                **{k: v for k, v in fields.items() if k != "metadata"},
            )
            chained.append(stored)
            prev_hash = stored.hash
        return chained

    def _announce(self, created: list[StoredEntry]) -> None:
        if not created:
            return
        with self._appended:
            self._appended.notify_all()
        for listener in self.listeners:
            listener(created)

    def _delete_blob_quietly(self, ref: str) -> None:
        try:
            self.store.delete_blob(ref)
        except Exception:  # the orphan sweep removes it later
            log.warning("could not delete an unused blob; the orphan sweep will")

    def delete_orphan_blobs(self, older_than: timedelta = timedelta(hours=1)) -> int:
        """Delete offloaded data that no entry refers to and that is older than ``older_than``."""
        return self.store.delete_orphan_blobs(self.clock() - older_than)

    # -- reading -------------------------------------------------------------

    def get_entry(self, instance_id: str, seq: int) -> dict[str, Any]:
        """Return the entry at ``seq``."""
        stored = self.store.get_by_seq(check_instance_id(instance_id), seq)
        if stored is None:
            raise NotFound("no entry at this seq", {"instance_id": instance_id, "seq": seq})
        return self._render(stored)

    def head(self, instance_id: str) -> dict[str, Any]:
        """Return the newest entry of the instance."""
        stored = self.store.head(check_instance_id(instance_id))
        if stored is None:
            raise NotFound("the instance has no entry", {"instance_id": instance_id})
        return self._render(stored)

    def first(self, instance_id: str) -> dict[str, Any]:
        """Return the oldest entry of the instance (seq 0: seqs are gapless)."""
        try:
            return self.get_entry(instance_id, 0)
        except NotFound:
            raise NotFound("the instance has no entry", {"instance_id": instance_id}) from None

    def read_history(
        self, instance_id: str, query: HistoryQuery, wait: float = 0
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Return one page of entries and the cursor of the next page (None on the last).

        With ``wait`` (seconds), an empty page is not answered until an entry
        arrives or the wait ends: appends in this process wake the reader at
        once, appends elsewhere are seen within TAIL_POLL_SECONDS.
        """
        check_instance_id(instance_id)
        deadline = time.monotonic() + wait
        while True:
            page = self.store.find(instance_id, dataclasses.replace(query, limit=query.limit + 1))
            remaining = deadline - time.monotonic()
            if page or remaining <= 0:
                break
            with self._appended:
                self._appended.wait(timeout=min(remaining, TAIL_POLL_SECONDS))
        has_more = len(page) > query.limit
        page = page[: query.limit]
        return [self._render(entry) for entry in page], (page[-1].seq if has_more else None)

    def search(self, query: SearchQuery, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Return entries of every instance by time (and type), and an opaque cursor for the next page."""
        position = _decode_cursor(after) if after else None
        page = self.store.search(dataclasses.replace(query, after=position, limit=query.limit + 1))
        has_more = len(page) > query.limit
        page = page[: query.limit]
        last = page[-1] if page else None
        cursor = _encode_cursor((last.recorded_at, last.instance_id, last.seq)) if has_more and last else None
        return [self._render(entry) for entry in page], cursor

    # -- moving whole histories ----------------------------------------------

    def export_entries(self, instance_id: str) -> Iterator[dict[str, Any]]:
        """Yield every entry in order, data inline, one at a time (the store pages underneath)."""
        if self.store.summary(check_instance_id(instance_id)) is None:
            raise NotFound("unknown instance", {"instance_id": instance_id})
        return (self._render(stored) for stored in self.store.iter_chain(instance_id))

    def clone(self, source: str, target: str, upto: int | None = None) -> dict[str, Any]:
        """Copy the entries up to ``upto`` into an empty instance, in order, with a fresh chain.

        Each copy keeps its id and records where it came from in ``metadata.cloned_from``.
        A clone that stopped half-way can be run again and completes it.
        """
        check_instance_id(source)
        check_instance_id(target)
        head = self.store.head(source)
        if head is None:
            raise NotFound("unknown instance", {"instance_id": source})
        last = head.seq if upto is None else upto
        if last > head.seq:
            raise NotFound("no entry at upto: it is past the head", {"upto": last, "head": head.seq})
        self._require_empty_or_resuming(target, lambda first: first.get("cloned_from", {}).get("instance_id") == source)
        chain = itertools.takewhile(lambda stored: stored.seq <= last, self.store.iter_chain(source))
        self._append_in_chunks(target, (self._copy_of(stored, "cloned_from", source) for stored in chain))
        return self.get_instance(target)

    def import_entries(self, instance_id: str, exported: list[Any]) -> dict[str, Any]:
        """Check an exported history (its entries as parsed JSON) whole, then append it to an empty instance.

        An entry that breaks the chain is refused with 422 naming its seq, and nothing is stored.
        """
        check_instance_id(instance_id)
        prev_hash: str | None = None
        source: str | None = None
        for seq, entry in enumerate(exported):
            stored = _stored_from_export(entry) if isinstance(entry, dict) and set(entry) == _EXPORT_FIELDS else None
            if (
                stored is None
                or stored.seq != seq
                or stored.prev_hash != prev_hash
                or not self._entry_is_intact(stored)
            ):
                raise InvalidInput("the imported history breaks its chain", {"seq": seq})
            source = source or stored.instance_id
            if stored.instance_id != source:
                raise InvalidInput("the imported history mixes instances", {"seq": seq})
            prev_hash = stored.hash
        if not exported:
            raise InvalidInput("the import holds no entry", {"body": ["one exported entry per line"]})
        first_id = exported[0]["id"]
        self._require_empty_or_resuming(instance_id, lambda _: True, first_id)
        self._append_in_chunks(
            instance_id,
            (
                NewEntry(
                    type=entry["type"],
                    data=entry["data"],
                    id=entry["id"],
                    occurred_at=_parse_timestamp(entry["occurred_at"]),
                    metadata={
                        **entry["metadata"],
                        "imported_from": {
                            "instance_id": entry["instance_id"],
                            "seq": entry["seq"],
                            "hash": entry["hash"],
                        },
                    },
                )
                for entry in exported
            ),
        )
        return self.get_instance(instance_id)

    def _require_empty_or_resuming(
        self, instance_id: str, same_origin: Callable[[dict[str, Any]], bool], first_id: str | None = None
    ) -> None:
        """Refuse a target with entries, unless they are the start of this very copy (a retry)."""
        first = self.store.get_by_seq(instance_id, 0)
        if first is None:
            return
        if (first_id is None or first.id == first_id) and same_origin(json.loads(first.metadata_json)):
            return
        raise Conflict("the target instance already has entries", {"instance_id": instance_id})

    def _copy_of(self, stored: StoredEntry, provenance: str, source: str) -> NewEntry:
        metadata = json.loads(stored.metadata_json)
        metadata[provenance] = {"instance_id": source, "seq": stored.seq, "hash": stored.hash}
        return NewEntry(
            type=stored.type,
            data=json.loads(self._data_bytes(stored)),
            metadata=metadata,
            id=stored.id,
            occurred_at=_parse_timestamp(stored.occurred_at),
        )

    def _append_in_chunks(self, instance_id: str, entries: Iterable[NewEntry]) -> None:
        chunk: list[NewEntry] = []
        for entry in entries:
            chunk.append(entry)
            if len(chunk) == COPY_CHUNK:
                self.append_entries(instance_id, chunk)
                chunk = []
        if chunk:
            self.append_entries(instance_id, chunk)

    def get_instance(self, instance_id: str) -> dict[str, Any]:
        """Return the instance's summary."""
        summary = self.store.summary(check_instance_id(instance_id))
        if summary is None:
            raise NotFound("unknown instance", {"instance_id": instance_id})
        return _render_summary(summary)

    def list_instances(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Return one page of instance summaries ordered by id, and the next cursor."""
        page = self.store.list_summaries(after, limit + 1)
        has_more = len(page) > limit
        page = page[:limit]
        return [_render_summary(s) for s in page], (page[-1].instance_id if has_more else None)

    # -- verifying -----------------------------------------------------------

    def verify(self, instance_id: str) -> VerifyResult:
        """Walk the instance's chain in bounded memory and report the first bad seq."""
        summary = self.store.summary(check_instance_id(instance_id))
        if summary is None:
            raise NotFound("unknown instance", {"instance_id": instance_id})
        checked = 0
        prev_hash: str | None = None
        for stored in self.store.iter_chain(instance_id):
            checked += 1
            if stored.seq != checked - 1:
                return VerifyResult(False, checked, checked - 1)  # an entry is missing
            if stored.prev_hash != prev_hash or not self._entry_is_intact(stored):
                return VerifyResult(False, checked, stored.seq)
            prev_hash = stored.hash
        if checked <= summary.head_seq:
            # The tail was cut off: the summary remembers a head that is gone.
            return VerifyResult(False, checked, checked)
        return VerifyResult(True, checked, None)

    def _entry_is_intact(self, stored: StoredEntry) -> bool:
        try:
            data_bytes = self._data_bytes(stored)
            metadata = json.loads(stored.metadata_json)
        except (CorruptEntry, ValueError):
            return False
        fields = {
            "instance_id": stored.instance_id,
            "seq": stored.seq,
            "id": stored.id,
            "type": stored.type,
            "occurred_at": stored.occurred_at,
            "recorded_at": stored.recorded_at,
            "metadata": metadata,
            "size": len(data_bytes),
            "data_sha256": sha256_hex(data_bytes),
            "prev_hash": stored.prev_hash,
        }
        return (
            fields["size"] == stored.size
            and fields["data_sha256"] == stored.data_sha256
            and entry_hash(fields) == stored.hash
        )

    # -- rendering -----------------------------------------------------------

    def _data_bytes(self, stored: StoredEntry) -> bytes:
        if stored.data_json is not None:
            return stored.data_json.encode()
        if stored.blob_ref is None:
            raise CorruptEntry("entry has no data")
        try:
            return snappy.decompress(self.store.get_blob(stored.blob_ref))
        except KeyError:
            raise CorruptEntry("the entry's offloaded data is missing") from None
        except Exception:
            raise CorruptEntry("the entry's offloaded data cannot be decompressed") from None

    def _render(self, stored: StoredEntry, data: Any = _UNSET) -> dict[str, Any]:
        if data is _UNSET:
            data = json.loads(self._data_bytes(stored))
        return {
            "instance_id": stored.instance_id,
            "seq": stored.seq,
            "id": stored.id,
            "type": stored.type,
            "occurred_at": stored.occurred_at,
            "recorded_at": stored.recorded_at,
            "metadata": json.loads(stored.metadata_json),
            "data": data,
            "size": stored.size,
            "data_sha256": stored.data_sha256,
            "prev_hash": stored.prev_hash,
            "hash": stored.hash,
        }


def _parse_timestamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


#: A search position: ``<recorded_at>,<instance id>,<seq>`` (instance ids cannot hold a comma).
SEARCH_CURSOR_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z," + INSTANCE_ID_PATTERN + r",\d{1,19}"
_SEARCH_CURSOR_RE = re.compile(SEARCH_CURSOR_PATTERN)
_MAX_SEQ = 2**63 - 1


def _encode_cursor(position: tuple[str, str, int]) -> str:
    return ",".join(str(part) for part in position)


def _decode_cursor(cursor: str) -> tuple[str, str, int]:
    # Any well-formed position is a valid place to continue from, whether or not an entry is there.
    if not _SEARCH_CURSOR_RE.fullmatch(cursor):
        raise InvalidInput("invalid cursor", {"after": ["pass the next cursor of the previous page"]})
    recorded_at, instance_id, seq = cursor.split(",")
    return recorded_at, instance_id, min(int(seq), _MAX_SEQ)


_EXPORT_FIELDS = {
    "instance_id",
    "seq",
    "id",
    "type",
    "occurred_at",
    "recorded_at",
    "metadata",
    "data",
    "size",
    "data_sha256",
    "prev_hash",
    "hash",
}


def _stored_from_export(entry: dict[str, Any]) -> StoredEntry | None:
    """Rebuild a StoredEntry from an exported line, so the usual checks apply; None when malformed."""
    try:
        return StoredEntry(
            instance_id=entry["instance_id"],
            seq=entry["seq"],
            id=entry["id"],
            type=entry["type"],
            occurred_at=entry["occurred_at"],
            recorded_at=entry["recorded_at"],
            metadata_json=canonical_json(entry["metadata"]).decode(),
            size=entry["size"],
            data_sha256=entry["data_sha256"],
            prev_hash=entry["prev_hash"],
            hash=entry["hash"],
            data_json=canonical_json(entry["data"]).decode(),
            blob_ref=None,
        )
    except (TypeError, ValueError):
        return None


def _render_summary(summary: InstanceSummary) -> dict[str, Any]:
    return {
        "instance_id": summary.instance_id,
        "count": summary.count,
        "first_recorded_at": summary.first_recorded_at,
        "last_recorded_at": summary.last_recorded_at,
        "head_seq": summary.head_seq,
        "head_hash": summary.head_hash,
    }
