"""Reading one configuration value: a whole number in range, a switch; the error that names the variable and
never its value (some values carry credentials)."""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """A configuration variable has a value the service cannot start with."""


def whole_number(values: Mapping[str, str], name: str, default: int, low: int, high: int, unit: str = "") -> int:
    """The variable as a whole number between ``low`` and ``high`` (``_`` may group digits); ``default`` if unset."""
    raw = values.get(name, "").strip()
    if not raw:
        return default
    try:
        number = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number" + (f" of {unit}" if unit else "")) from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low:,} and {high:,}")
    return number


def switch(values: Mapping[str, str], name: str, choices: dict[str, bool]) -> bool:
    """The variable as one of ``choices`` (case aside); the first choice if unset."""
    raw = values.get(name, "").strip().lower()
    if not raw:
        return next(iter(choices.values()))
    if raw not in choices:
        raise ConfigError(f"{name} must be {' or '.join(choices)}")
    return choices[raw]
