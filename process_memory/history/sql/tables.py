"""The SQL history's three tables, and how entries and summaries map to their rows.

The entries table's columns come from the entry record (entry.py);
PostgreSQL also gets JSONB copies of data and metadata, for psql.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from process_memory.entry import FIELD_SPECS, STORED_FIELDS, FieldSpec, StoredEntry, shown_name
from process_memory.history.summaries import InstanceSummary, summary_from_fields


def starts_with(column: Any, prefix: str) -> Any:
    """The condition that ``column`` starts with ``prefix``, case-sensitive on every dialect.

    LIKE narrows it (and can use an index), but SQLite's LIKE ignores ASCII case, so the exact test is the
    leading characters compared as text, as PostgreSQL's LIKE would.
    """
    if not prefix:
        return sa.true()
    return sa.and_(column.startswith(prefix, autoescape=True), sa.func.substr(column, 1, len(prefix)) == prefix)


@dataclass(frozen=True)
class Tables:
    """The four tables of the history, named from one prefix."""

    entries: sa.Table
    instances: sa.Table
    blobs: sa.Table
    #: The Merkle tree's hashes each entry's write stored (history/trees.py), written in the entry's
    #: transaction; an entry stored before trees were kept has no row.
    trees: sa.Table


#: The fields kept as canonical JSON text, which PostgreSQL also keeps as JSONB under their shown names.
_JSON_FIELDS = tuple(name for name, spec in FIELD_SPECS.items() if spec.kind in ("object", "json"))
#: RFC 3339 UTC with milliseconds: sorts as text.
_TIMESTAMP = sa.String(24)


def _column(name: str, spec: FieldSpec) -> sa.Column[Any]:
    """The column of an entry field, as the record declares it; (instance_id, seq) is the key."""
    kind: Any = {
        "text": sa.String(spec.length) if spec.length else sa.Text,
        "integer": sa.BigInteger,
        "timestamp": _TIMESTAMP,
        "object": sa.Text,
        "json": sa.Text,
    }[spec.kind]
    key = name in ("instance_id", "seq")
    return sa.Column(name, kind, primary_key=key, autoincrement=False, nullable=spec.nullable and not key)


def build_tables(prefix: str, dialect: str) -> Tables:
    """Describe the tables; PostgreSQL gets JSONB copies of data and metadata for psql."""
    metadata = sa.MetaData()
    jsonb_copies = [sa.Column(shown_name(n), postgresql.JSONB) for n in _JSON_FIELDS] if dialect == "postgresql" else []
    entries = sa.Table(
        f"{prefix}_entries",
        metadata,
        *[_column(name, spec) for name, spec in FIELD_SPECS.items()],
        sa.Column("data_blob", sa.String(36)),
        *jsonb_copies,
        sa.UniqueConstraint("instance_id", "id", name=f"{prefix}_entries_instance_entry_id"),
        sa.Index(f"{prefix}_entries_instance_type_seq", "instance_id", "type", "seq"),
        sa.Index(f"{prefix}_entries_instance_recorded_at", "instance_id", "recorded_at"),
        sa.Index(f"{prefix}_entries_data_blob", "data_blob"),
        # Search across instances: by type and time, or by time alone, in a stable order.
        sa.Index(f"{prefix}_entries_type_recorded_at", "type", "recorded_at", "instance_id", "seq"),
        sa.Index(f"{prefix}_entries_recorded_at", "recorded_at", "instance_id", "seq"),
    )
    instances = _instances_table(prefix, metadata)
    blobs = sa.Table(
        f"{prefix}_blobs",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, index=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    trees = sa.Table(
        f"{prefix}_trees",
        metadata,
        sa.Column("instance_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    return Tables(entries, instances, blobs, trees)


def _instances_table(prefix: str, metadata: sa.MetaData) -> sa.Table:
    """The summaries: one row per instance, moved on in each append's transaction."""
    return sa.Table(
        f"{prefix}_instances",
        metadata,
        sa.Column("instance_id", sa.String(128), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("head_seq", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64)),
        sa.Column("first_recorded_at", _TIMESTAMP, nullable=False),
        sa.Column("last_recorded_at", _TIMESTAMP, nullable=False),
        sa.Column("head_type", sa.String(256)),
        sa.Column("head_failed", sa.Boolean),
        sa.Column("copied_from", sa.String(128)),
        sa.Column("copy_kind", sa.String(16)),
        # Anchoring rounds read the instances whose last entry is recent (anchoring/anchorer.py); the instance
        # list, the most recent first, too.
        sa.Index(f"{prefix}_instances_last_recorded_at", "last_recorded_at", "instance_id"),
        # The list filtered by the last entry's type; and by failure, where only failed instances are indexed
        # (an append to one that did not fail leaves this index alone).
        sa.Index(f"{prefix}_instances_head_type", "head_type", "last_recorded_at", "instance_id"),
        _partial_index(f"{prefix}_instances_failed", ("last_recorded_at", "instance_id"), "head_failed"),
        # The copies of an instance; only copies are indexed.
        _partial_index(f"{prefix}_instances_copied_from", ("copied_from", "instance_id"), "copied_from IS NOT NULL"),
    )


def _partial_index(name: str, columns: tuple[str, ...], condition: str) -> sa.Index:
    """An index of the rows that meet ``condition`` only (both dialects spell it alike)."""
    return sa.Index(name, *columns, postgresql_where=sa.text(condition), sqlite_where=sa.text(condition))


def _jsonb_param(name: str) -> str:
    return f"{shown_name(name)}_jsonb_text"


#: The entries table's columns that entry_row gives values for, in a driver's row order.
ENTRY_COLUMNS = (*STORED_FIELDS, "data_blob")


def entry_insert(tables: Tables, with_jsonb: bool) -> sa.Insert:
    """The one INSERT of entries, built once; PostgreSQL casts each JSONB copy from its canonical text."""
    insert = tables.entries.insert()
    if not with_jsonb:
        return insert
    # Each text is bound once and feeds both its column and the JSONB copy, which PostgreSQL parses:
    # a large entry's data crosses the wire and the driver's buffers once, not twice. JSONB refuses
    # the NUL character; such values are only kept as text.
    values: dict[str, Any] = {}
    for name in _JSON_FIELDS:
        text = sa.bindparam(_jsonb_param(name), type_=sa.Text)
        values[name] = text
        values[shown_name(name)] = sa.case(
            (sa.func.strpos(text, sa.literal("\\u0000")) > 0, sa.null()), else_=sa.cast(text, postgresql.JSONB)
        )
    return insert.values(values)


def entry_row(entry: StoredEntry, with_jsonb: bool) -> dict[str, Any]:
    """Return the parameters of entry_insert for an entry."""
    row: dict[str, Any] = {name: getattr(entry, name) for name in STORED_FIELDS}
    row["data_blob"] = entry.blob_ref  # the last of ENTRY_COLUMNS
    if with_jsonb:
        row.update({_jsonb_param(n): row[n] for n in _JSON_FIELDS})
    return row


def entry_from_row(row: Any) -> StoredEntry:
    """Return the entry a row of the entries table holds."""
    mapping = row._mapping
    return StoredEntry(**{name: mapping[name] for name in STORED_FIELDS}, blob_ref=mapping["data_blob"])


def entry_from_values(values: tuple[Any, ...]) -> StoredEntry:
    """Return the entry a driver's row holds: the entry record's stored fields, then ``data_blob``."""
    *stored, blob_ref = values
    return StoredEntry(**dict(zip(STORED_FIELDS, stored, strict=True)), blob_ref=blob_ref)


def summary_from_row(row: Any) -> InstanceSummary | None:
    """Return the summary a row of the instances table holds; None for a first append that never completed."""
    # By the row's mapping: ``row.count`` is the tuple's method, which a Row answers by a slow special case
    # (a third of the anchoring round's reading of a thousand summaries).
    values = row._mapping
    return summary_from_fields(values, values["instance_id"])
