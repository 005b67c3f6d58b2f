"""What changed between two JSON values: the paths added, removed and changed, for the entry page's diff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: The most changes listed; a diff of two unrelated datasets is not read to the end.
MAX_CHANGES = 500


@dataclass(frozen=True)
class Change:
    """One path that differs: ``before`` is absent when added, ``after`` when removed."""

    kind: Literal["added", "removed", "changed"]
    path: str
    before: Any = None
    after: Any = None


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    plain = key.isidentifier()
    return f"{path}.{key}" if plain and path else key if plain else f"{path}[{key!r}]"


def json_diff(before: Any, after: Any, path: str = "") -> list[Change]:
    """The paths where ``after`` differs from ``before``: into objects by key and arrays by position; any other
    difference (a value, or a type) is one change at its path. At most :data:`MAX_CHANGES`."""
    changes: list[Change] = []
    _walk(before, after, path, changes)
    return changes[:MAX_CHANGES]


def _walk(before: Any, after: Any, path: str, changes: list[Change]) -> None:
    if len(changes) >= MAX_CHANGES:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            if key not in after:
                changes.append(Change("removed", _child(path, key), before=before[key]))
            elif key not in before:
                changes.append(Change("added", _child(path, key), after=after[key]))
            else:
                _walk(before[key], after[key], _child(path, key), changes)
    elif isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            if index >= len(after):
                changes.append(Change("removed", _child(path, index), before=before[index]))
            elif index >= len(before):
                changes.append(Change("added", _child(path, index), after=after[index]))
            else:
                _walk(before[index], after[index], _child(path, index), changes)
    elif type(before) is not type(after) or before != after:
        changes.append(Change("changed", path or "(the whole value)", before=before, after=after))
