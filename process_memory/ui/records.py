"""Arrays of records in an entry's data, as tables: a dataset of thousands of rows is read as rows and columns,
and searched, rather than opened node by node in a tree.

An array of records is a non-empty JSON array whose items are all objects, found as the data itself or under
object keys down to MAX_DEPTH levels (``entities.usina``). Its columns are its records' keys in the order they
first appear (at most MAX_COLUMNS); a cell shows a string as it is and anything else as compact JSON, cut at
CELL_CHARACTERS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 3
MAX_COLUMNS = 30
#: Rows of one table sent to the browser; the rest are counted, and the export or the API has them all.
MAX_ROWS = 10_000
CELL_CHARACTERS = 80


@dataclass(frozen=True)
class RecordTable:
    """One array of records: where it is in the data, its columns, its first MAX_ROWS rows and how many it holds."""

    path: str
    columns: list[str]
    rows: list[list[str]]
    total: int


def record_tables(data: Any) -> list[RecordTable]:
    """Every array of records in ``data``, in the order of its keys."""
    found: list[RecordTable] = []

    def walk(value: Any, path: str, depth: int) -> None:
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            found.append(_table(path or "the data", value))
        elif isinstance(value, dict) and depth < MAX_DEPTH:
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key), depth + 1)

    walk(data, "", 0)
    return found


def _table(path: str, records: list[dict[str, Any]]) -> RecordTable:
    columns: dict[str, None] = {}
    for record in records:
        for key in record:
            if len(columns) >= MAX_COLUMNS:
                break
            columns.setdefault(str(key), None)
    names = list(columns)
    rows = [[_cell(record.get(name)) for name in names] for record in records[:MAX_ROWS]]
    return RecordTable(path, names, rows, len(records))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= CELL_CHARACTERS else text[: CELL_CHARACTERS - 1] + "…"
