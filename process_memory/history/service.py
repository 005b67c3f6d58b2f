"""The history service: appends, reads and verification over any HistoryStore.

Sequence numbers, the hash chain, idempotent retries and the inline/offload
threshold are decided here, once, so every backend behaves the same. Without
multi-document transactions, an append is made safe by the store's unique
``(instance_id, seq)`` and ``(instance_id, id)`` constraints: the writer that
inserts a seq first wins and every other writer re-reads the head and retries.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import snappy

from process_memory.chain import canonical_json, entry_hash, sha256_hex
from process_memory.exceptions import (
    Conflict,
    DuplicateEntry,
    ServiceError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    StoreUnavailable,
)
from process_memory.history.store import HistoryQuery, HistoryStore, InstanceSummary, StoredEntry

log = logging.getLogger(__name__)

INSTANCE_ID_PATTERN = r"[A-Za-z0-9._:-]{1,128}"
_INSTANCE_ID_RE = re.compile(INSTANCE_ID_PATTERN)
#: Metadata is for small descriptive fields; it always stays inline next to the entry.
MAX_METADATA_BYTES = 256 * 1024
#: How often one append re-reads the head after losing a race before answering 503.
MAX_APPEND_ATTEMPTS = 100
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


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking an instance's chain."""

    ok: bool
    checked: int
    first_bad_seq: int | None


def utc_now() -> datetime:
    """Return the current time in UTC (the default clock)."""
    return datetime.now(timezone.utc)


def format_timestamp(moment: datetime) -> str:
    """Return ``moment`` as RFC 3339 UTC with millisecond precision, e.g. ``2026-01-02T03:04:05.678Z``."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def check_instance_id(instance_id: str) -> str:
    """Return ``instance_id`` when it is 1-128 characters of ``[A-Za-z0-9._:-]``."""
    if not _INSTANCE_ID_RE.fullmatch(instance_id):
        raise InvalidInput(
            "invalid instance id", {"instance_id": ["1-128 characters of A-Z a-z 0-9 . _ : -"]}
        )
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

    # -- writing -------------------------------------------------------------

    def append_entry(
        self, instance_id: str, new: NewEntry, expected_head: int | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Append an entry; return it and whether it was created (False: a safe retry).

        ``expected_head`` is the seq the client believes is the head (-1 for an
        empty instance); another head raises PreconditionFailed.
        """
        check_instance_id(instance_id)
        try:
            data_bytes = canonical_json(new.data)
            metadata_bytes = canonical_json(new.metadata)
        except ValueError:
            raise InvalidInput("data holds a number JSON cannot represent", {"data": ["not finite"]}) from None
        if len(metadata_bytes) > MAX_METADATA_BYTES:
            raise InvalidInput(
                "metadata too large", {"metadata": [f"at most {MAX_METADATA_BYTES} bytes of JSON"]}
            )
        entry_id = new.id or str(uuid.uuid4())
        occurred_at = format_timestamp(new.occurred_at) if new.occurred_at else None
        fields: dict[str, Any] = {
            "instance_id": instance_id,
            "id": entry_id,
            "type": new.type,
            "occurred_at": occurred_at,
            "metadata": new.metadata,
            "size": len(data_bytes),
            "data_sha256": sha256_hex(data_bytes),
        }
        metadata_json = metadata_bytes.decode("utf-8")
        data_json: str | None = data_bytes.decode("utf-8")
        blob_ref: str | None = None
        if len(data_bytes) > self.max_inline_data:
            blob_ref = self.store.put_blob(instance_id, entry_id, snappy.compress(data_bytes))
            data_json = None
        # The blob is ours to delete only while we know no entry refers to it;
        # after an ambiguous failure (a timeout mid-insert) the orphan sweep decides.
        blob_is_unused = True
        try:
            for attempt in range(MAX_APPEND_ATTEMPTS):
                if new.id is not None:
                    existing = self.store.get_by_id(instance_id, entry_id)
                    if existing is not None:
                        if not _same_content(existing, fields, metadata_json):
                            raise Conflict(
                                "an entry with this id exists with other content",
                                {"id": entry_id, "seq": existing.seq},
                            )
                        return self._render(existing), False
                head = self.store.head(instance_id)
                head_seq = head.seq if head else -1
                if expected_head is not None and expected_head != head_seq:
                    raise PreconditionFailed("the instance's head has moved", {"head": head_seq})
                fields.update(
                    seq=head_seq + 1,
                    prev_hash=head.hash if head else None,
                    recorded_at=format_timestamp(self.clock()),
                )
                stored = StoredEntry(
                    metadata_json=metadata_json,
                    hash=entry_hash(fields),
                    data_json=data_json,
                    blob_ref=blob_ref,
                    **{k: v for k, v in fields.items() if k != "metadata"},
                )
                try:
                    blob_is_unused = False
                    self.store.insert(stored)
                except DuplicateEntry:
                    blob_is_unused = True
                    # Another writer took this seq (or this id): back off a little and re-read.
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                    continue
                return self._render(stored, new.data), True
            raise StoreUnavailable("too many concurrent appends to this instance", retry_after=1)
        finally:
            if blob_ref is not None and blob_is_unused:
                self._delete_blob_quietly(blob_ref)

    def _delete_blob_quietly(self, ref: str) -> None:
        try:
            self.store.delete_blob(ref)
        except Exception:  # the orphan sweep removes it later
            log.warning("could not delete an unused blob; the orphan sweep will", exc_info=False)

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

    def read_history(self, instance_id: str, query: HistoryQuery) -> tuple[list[dict[str, Any]], int | None]:
        """Return one page of entries and the cursor of the next page (None on the last)."""
        check_instance_id(instance_id)
        page = self.store.find(instance_id, dataclasses.replace(query, limit=query.limit + 1))
        has_more = len(page) > query.limit
        page = page[: query.limit]
        return [self._render(entry) for entry in page], (page[-1].seq if has_more else None)

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
            return stored.data_json.encode("utf-8")
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


def _same_content(existing: StoredEntry, fields: dict[str, Any], metadata_json: str) -> bool:
    return (
        existing.type == fields["type"]
        and existing.data_sha256 == fields["data_sha256"]
        and existing.metadata_json == metadata_json
        and existing.occurred_at == fields["occurred_at"]
    )


def _render_summary(summary: InstanceSummary) -> dict[str, Any]:
    return {
        "instance_id": summary.instance_id,
        "count": summary.count,
        "first_recorded_at": summary.first_recorded_at,
        "last_recorded_at": summary.last_recorded_at,
        "head_seq": summary.head_seq,
        "head_hash": summary.head_hash,
    }
