"""The package's shape holds: the log imports nothing of the platform's memory, no package imports another
that imports it back, no interface has more than eight abstract methods, no class of ours mixes two in."""

from __future__ import annotations

from pathlib import Path

from tools.structure import facts


def test_the_layout_keeps_its_shape(project_root: Path) -> None:
    found = facts(project_root / "process_memory")
    assert found["history_to_memory"] == 0
    assert found["module_cycles"] == [] and found["package_cycles"] == []
    name, abstract = found["widest"]  # type: ignore[misc]
    assert abstract <= 8, name
    assert found["many_bases"] == []
