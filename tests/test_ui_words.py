"""How the browser words sizes, step lengths and arrays of records: the forms its docstrings promise, and the caps
on what one table sends."""

from __future__ import annotations

import pytest

from process_memory.ui import readable_size
from process_memory.ui.records import record_tables
from process_memory.ui.steps import duration, preview


@pytest.mark.parametrize(
    ("size", "said"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (9728, "9.5 KiB"),
        (742_400, "725 KiB"),
        (15 * 1024 * 1024, "15 MiB"),
        (3 * 1024**3, "3.0 GiB"),
    ],
)
def test_sizes_read_as_people_read_them(size: int, said: str) -> None:
    assert readable_size(size) == said


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "0 s"), (0.35, "350 ms"), (4.2, "4.2 s"), (59.4, "59 s"), (185, "3 min 5 s"), (7800, "2 h 10 min")],
)
def test_step_lengths_read_as_people_read_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def test_a_preview_is_cut_at_100_characters_with_an_ellipsis() -> None:
    assert preview("x" * 100) == "x" * 100
    assert preview("x" * 101) == "x" * 99 + "…"
    assert preview(None) == ""


def test_a_table_sends_at_most_10000_rows_and_30_columns_and_cuts_long_cells_at_80() -> None:
    records = [{f"c{k:02d}": n for k in range(35)} | {"long": "y" * 81} for n in range(10_001)]
    [table] = record_tables({"rows": records})
    assert (table.path, table.total, len(table.rows)) == ("rows", 10_001, 10_000)
    assert table.columns == [f"c{k:02d}" for k in range(30)]  # "long" comes 36th: past the cap
    [short] = record_tables([{"long": "y" * 81, "ok": "z" * 80}])
    assert short.rows == [["y" * 79 + "…", "z" * 80]]
