"""Instance ids (formats.py): which strings name an instance."""

from __future__ import annotations

import pytest

from process_memory.formats import is_instance_id


@pytest.mark.parametrize("text", ["X", "XX", "a.b", ".a", "a.", "..x", "X.X", "run-7:step_2", "a" * 128])
def test_ids_that_name_an_instance(text: str) -> None:
    assert is_instance_id(text)


@pytest.mark.parametrize("text", [".", "..", "...", "", "a" * 129, "a b", "a/b", "é"])
def test_strings_that_do_not(text: str) -> None:
    assert not is_instance_id(text)
