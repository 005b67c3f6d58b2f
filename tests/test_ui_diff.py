"""The entry page's diff: every path added, removed or changed, and nothing else."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from process_memory.ui.diff import MAX_CHANGES, Change, json_diff

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)


def test_paths_added_removed_and_changed() -> None:
    before = {"rows": 10, "columns": ["a", "b"], "source": {"bucket": "x"}, "gone": True, "n": 1}
    after = {"rows": 12, "columns": ["a"], "source": {"bucket": "x", "key": "k"}, "new": None, "n": 1.0}
    assert json_diff(before, after) == [
        Change("removed", "columns[1]", before="b"),
        Change("removed", "gone", before=True),
        Change("changed", "n", before=1, after=1.0),  # an integer is not a float: their hashes differ
        Change("added", "new", after=None),
        Change("changed", "rows", before=10, after=12),
        Change("added", "source.key", after="k"),
    ]
    assert json_diff({"odd key": 1}, {"odd key": 2}) == [Change("changed", "['odd key']", before=1, after=2)]
    assert json_diff([1], {"a": 1}) == [Change("changed", "(the whole value)", before=[1], after={"a": 1})]
    assert len(json_diff(list(range(2000)), [])) == MAX_CHANGES


@given(_VALUES, _VALUES)
def test_no_change_exactly_when_equal(before: Any, after: Any) -> None:
    same = type(before) is type(after) and before == after and repr(before) == repr(after)
    if same:
        assert json_diff(before, after) == []
    assert json_diff(before, before) == []
    if json_diff(before, after) == []:
        assert repr(before) == repr(after) or before == after
