"""The entry record, defined once.

Every field of an entry is declared on :class:`StoredEntry`, with what the
chain hash covers, what makes two entries with one id the same entry, how a
store keeps it and how the API shows it. The hash, the idempotency check,
rendering, export and import, the SQL columns, the MongoDB documents and the
API's ``EntrySchema`` all derive from that one declaration. Adding a field is
a line here (and one in ``NewEntry`` and ``NewEntrySchema`` when clients post
it); docs/architecture.md walks through it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from process_memory.chain import canonical_json, sha256_hex
from process_memory.formats import MAX_SEQ, format_timestamp, is_instance_id, is_timestamp, parse_timestamp

#: Metadata keys only the service writes: where a copy came from (``copy_of``), and ``redacted``, which an
#: entry shows as a field of its own. Clients cannot set them (422), so provenance read back was recorded
#: by the service itself. A new key the service writes into metadata joins this tuple.
PROVENANCE_KEYS = ("cloned_from", "imported_from", "redacted")

#: How a field is kept: text (``length``: the longest a store must hold), a 64-bit integer, an RFC 3339
#: timestamp, or canonical JSON text of an object or of any value.
Kind = Literal["text", "integer", "timestamp", "object", "json"]


@dataclass(frozen=True)
class FieldSpec:
    """How one field of an entry is kept, shown and checked."""

    kind: Kind
    length: int | None = None
    nullable: bool = False
    #: Covered by the chain hash. Only the hash itself is not, and data's text, which data_sha256 covers.
    hashed: bool = True
    #: Part of what makes two entries with one id the same entry (a safe retry rather than a 409).
    content: bool = False
    #: Given by the client: NewEntry has a field of the same shown name.
    posted: bool = False
    #: Added after entries were first stored: hashed only when set, and may be missing from an older export,
    #: so that entries written before the field existed still verify.
    added_later: bool = False
    description: str | None = None


def _spec(kind: Kind, default: Any = dataclasses.MISSING, **options: Any) -> Any:
    # Called only while this module is imported, before mutmut switches any mutant on (docs/testing.md).
    return field(default=default, metadata={"spec": FieldSpec(kind, **options)})  # pragma: no mutate


@dataclass(frozen=True)
class NewEntry:
    """An entry as a client posts it, already validated by the API schema."""

    type: str
    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class StoredEntry:
    """One entry as stored. The hashed fields are in the order of the hash recipe (docs/storage.md).

    JSON is kept as its canonical text (``*_json``), the exact bytes that are hashed; it is shown
    parsed, under the name without ``_json``.
    """

    instance_id: str = _spec("text", length=128)
    seq: int = _spec("integer", description="position in the instance's history, gapless from 0")
    id: str = _spec("text", length=36, posted=True)
    type: str = _spec("text", length=256, content=True, posted=True)
    occurred_at: str | None = _spec("timestamp", nullable=True, content=True, posted=True)
    recorded_at: str = _spec("timestamp")
    recorded_by: str | None = _spec(
        "text", length=64, nullable=True, added_later=True, description="the name of the API key that appended it"
    )
    metadata_json: str = _spec("object", content=True, posted=True)
    size: int = _spec("integer", description="bytes of the canonical JSON of data")
    data_sha256: str = _spec("text", length=64, content=True)
    prev_hash: str | None = _spec("text", length=64, nullable=True, description="null for seq 0")
    hash: str = _spec("text", length=64, hashed=False)
    #: None when the data is offloaded: then ``blob_ref`` says where.
    data_json: str | None = _spec("json", nullable=True, hashed=False, description="any JSON value")
    #: Set when the entry's data was erased for good (history/redacting.py): ``{at, by, reason}``, and the data
    #: is null. Not hashed, like the data's text: the chain and the tree verify as before, and the ``redaction``
    #: entry that names this seq later in the chain is what vouches for the erasure.
    redacted_json: str | None = _spec(
        "object",
        default=None,
        nullable=True,
        hashed=False,
        added_later=True,
        description="null, or when, by which key and why the data was erased ({at, by, reason})",
    )
    #: The store's reference to the snappy-compressed data when it is offloaded, else None.
    blob_ref: str | None = None
    #: The stored hashes of the instance's Merkle tree that this entry's write added (history/trees.py),
    #: concatenated; None for an entry stored before trees were kept. Not part of the entry as shown.
    tree: bytes | None = None


#: Every stored field but ``blob_ref`` (whose form each store decides), by attribute name, in order.
FIELD_SPECS: dict[str, FieldSpec] = {
    f.name: f.metadata["spec"] for f in dataclasses.fields(StoredEntry) if "spec" in f.metadata
}
#: The columns (or document fields) every store keeps, besides where offloaded data lives.
STORED_FIELDS: tuple[str, ...] = tuple(FIELD_SPECS)
#: The attribute whose shown value, ``data``, may live out of line.
DATA_FIELD = "data_json"
#: What a redacted entry's data is once erased: JSON null, kept inline.
ERASED_DATA = canonical_json(None).decode()


def shown_name(name: str) -> str:
    """Return the name a stored field has in the API and in exports."""
    return name.removesuffix("_json")


#: The fields the chain hash covers, by shown name, in the documented order.
HASHED_FIELDS: tuple[str, ...] = tuple(shown_name(n) for n, spec in FIELD_SPECS.items() if spec.hashed)
#: The fields of an entry as the API shows it and an export writes it.
SHOWN_FIELDS: frozenset[str] = frozenset(shown_name(n) for n in FIELD_SPECS)
#: What every export line holds, whenever it was written.
_REQUIRED_SHOWN = frozenset(shown_name(n) for n, spec in FIELD_SPECS.items() if not spec.added_later)
_CONTENT = tuple(n for n, spec in FIELD_SPECS.items() if spec.content)
_POSTED = {n: spec for n, spec in FIELD_SPECS.items() if spec.posted}


def _shown(spec: FieldSpec, value: Any) -> Any:
    """Return a field's shown value from its stored one (data, read from wherever it lives, is the caller's)."""
    return json.loads(value) if spec.kind == "object" and value is not None else value


def _stored(spec: FieldSpec, value: Any) -> Any:
    """Return a field's stored value from its shown one."""
    if spec.kind == "json" or (spec.kind == "object" and value is not None):
        return canonical_json(value).decode()  # null is a JSON value like any other
    return value


def _from_posted(spec: FieldSpec, value: Any) -> Any:
    """Return a field's stored value from its posted one (a timestamp is a datetime there)."""
    if spec.kind == "timestamp":
        return format_timestamp(value) if value is not None else None
    return _stored(spec, value)


def _posted(spec: FieldSpec, value: Any) -> Any:
    """Return a field's posted value (as in NewEntry) from its shown one."""
    return parse_timestamp(value) if spec.kind == "timestamp" else value


def _well_formed(spec: FieldSpec, value: Any) -> bool:
    """Whether a shown value fits its field, as the API would have let it in: type, length, timestamp form."""
    if value is None:
        return spec.nullable
    if spec.kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.kind == "object":
        return isinstance(value, dict)
    if spec.kind in ("text", "timestamp"):
        fits = isinstance(value, str) and (spec.length is None or len(value) <= spec.length)
        return fits and (spec.kind == "text" or is_timestamp(value))
    return True


def chain_hash(stored: Mapping[str, Any]) -> str:
    """Return the chain hash of an entry from its stored fields by attribute name (``prev_hash`` included)."""
    shown = {
        shown_name(n): _shown(spec, stored.get(n))
        for n, spec in FIELD_SPECS.items()
        if spec.hashed and not (spec.added_later and stored.get(n) is None)
    }
    return sha256_hex(canonical_json(shown))


def is_erased(stored: StoredEntry) -> bool:
    """Whether the entry's data is gone as redaction leaves it: JSON null, and no blob."""
    return stored.data_json == ERASED_DATA and stored.blob_ref is None


def entry_problem(stored: StoredEntry, data_bytes: bytes | None) -> str | None:
    """What is wrong with an entry on its own (its link to the one before aside), or None: its data (``data_bytes``,
    read from wherever it lives; None when there is none) against its size and digest, or, redacted, erased; and its
    hash against its fields. Whether a redaction is recorded is the chain walk's business (history/redacting.py)."""
    if stored.redacted_json is not None:
        if not is_erased(stored):
            return "redacted, yet it still holds data"
    elif data_bytes is None or len(data_bytes) != stored.size or sha256_hex(data_bytes) != stored.data_sha256:
        return "its data is not the data its size and data_sha256 describe"
    if chain_hash(vars(stored)) != stored.hash:
        return "its hash is not the hash of its fields"
    return None


def content_of(stored: Mapping[str, Any]) -> tuple[Any, ...]:
    """Return what makes two entries with one id the same entry, compared as stored."""
    return tuple(stored[n] for n in _CONTENT)


def posted_fields(new: NewEntry) -> dict[str, Any]:
    """Return the fields a client gave, in their stored form (``id`` None when the server is to make it)."""
    return {n: _from_posted(spec, getattr(new, shown_name(n))) for n, spec in _POSTED.items()}


def shown_entry(stored: StoredEntry, data: Any) -> dict[str, Any]:
    """Return the entry as the API shows it and an export writes it; ``data`` is read by the caller."""
    shown = {shown_name(n): _shown(spec, getattr(stored, n)) for n, spec in FIELD_SPECS.items() if n != DATA_FIELD}
    shown["data"] = data
    return shown


def _render_layout() -> list[str | tuple[str, ...]]:
    """The shown fields in key order: a field kept as JSON text alone (spliced in), runs of the others together."""
    layout: list[str | tuple[str, ...]] = []
    for name in sorted(FIELD_SPECS, key=shown_name):
        if name == DATA_FIELD or FIELD_SPECS[name].kind == "object":
            layout.append(name)
        elif layout and isinstance(layout[-1], tuple):
            layout[-1] = (*layout[-1], name)
        else:
            layout.append((name,))
    return layout


_RENDER_LAYOUT = _render_layout()


def entry_json(stored: StoredEntry, data_json: bytes) -> bytes:
    """Return the entry as the API shows it, as JSON text: shown_entry's fields with their keys sorted, the data
    and metadata spliced in from their stored canonical JSON, never parsed (a 15 MB entry stays 15 MB)."""
    # One join of every piece: the data is copied once, into the response.
    pieces = [b"{"]
    for part in _RENDER_LAYOUT:
        if len(pieces) > 1:
            pieces.append(b",")
        if isinstance(part, tuple):  # one json.dumps for a run of fields: a call per field cost more than the rest
            shown = {shown_name(name): getattr(stored, name) for name in part}
            pieces.append(json.dumps(shown, separators=(",", ":")).encode()[1:-1])
        else:
            value = data_json if part == DATA_FIELD else getattr(stored, part)
            text = b"null" if value is None else value if isinstance(value, bytes) else value.encode()
            pieces += (b'"' + shown_name(part).encode() + b'":', text)
    pieces.append(b"}")
    return b"".join(pieces)


def stored_from_shown(shown: Any) -> StoredEntry | None:
    """Rebuild a stored entry from a shown one (an export line), so the usual checks apply; None when malformed."""
    if not isinstance(shown, dict) or not _REQUIRED_SHOWN <= set(shown) <= SHOWN_FIELDS:
        return None
    values: dict[str, Any] = {}
    for name, spec in FIELD_SPECS.items():
        value = shown.get(shown_name(name))
        if not _well_formed(spec, value):
            return None
        try:
            values[name] = _stored(spec, value)
        except ValueError:  # a number JSON cannot represent
            return None
    return StoredEntry(**values)  # an export carries its data inline


def copy_of(shown: Mapping[str, Any], provenance: str, **request: Any) -> NewEntry:
    """Return a new entry with the posted fields of ``shown``, noting in ``metadata[provenance]`` where it came from
    (and ``request``: what the copy was asked for)."""
    values = {shown_name(n): _posted(spec, shown[shown_name(n)]) for n, spec in _POSTED.items()}
    origin = {"instance_id": shown["instance_id"], "seq": shown["seq"], "hash": shown["hash"], **request}
    values["metadata"] = {**values["metadata"], provenance: origin}
    return NewEntry(data=shown["data"], **values)


#: The metadata key each kind of copy records its origin under (``copy_of``'s ``provenance``), and the kind.
COPY_PROVENANCE = {"cloned_from": "cloned", "imported_from": "imported"}


def copy_origins(metadata: Any) -> list[tuple[str, str, int]]:
    """Where an entry says it was copied from, as (kind, instance id, seq), from its metadata: only what names an
    instance and a seq this service could hold (metadata is the client's: it may say anything)."""
    found: list[tuple[str, str, int]] = []
    for key, kind in COPY_PROVENANCE.items():
        origin = metadata.get(key) if isinstance(metadata, dict) else None
        if not isinstance(origin, dict) or not isinstance(origin.get("instance_id"), str):
            continue
        seq = origin.get("seq")
        if is_instance_id(origin["instance_id"]) and isinstance(seq, int) and not isinstance(seq, bool):
            if 0 <= seq <= MAX_SEQ:
                found.append((kind, origin["instance_id"], seq))
    return found


#: What a copy keeps of its original as it was: the posted fields but the metadata (which the copy extends with
#: its provenance), and the data, by its digest.
_KEPT_BY_COPIES = (*(n for n in _POSTED if n != "metadata_json"), "data_sha256")


def is_copy_of(copy: StoredEntry, original: StoredEntry | None) -> bool:
    """Whether ``copy`` holds what ``original`` held, as ``copy_of`` copies it."""
    return original is not None and all(getattr(copy, n) == getattr(original, n) for n in _KEPT_BY_COPIES)
