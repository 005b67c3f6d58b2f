"""The request fields every schema shares, with the rules that keep the backends in step.

PostgreSQL text cannot hold NUL while SQLite and MongoDB can, so a text field
refuses it everywhere (data and metadata keep it: they are stored as escaped
JSON). A moment with an offset must still be a moment once moved to UTC
(``0001-01-01T00:00:00+14:00`` is not).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

#: Written into the OpenAPI document as the field's pattern, so clients (and schemathesis) see the rule.
_NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain NUL (\\u0000)")


class Text(fields.String):
    """A string that a text column of every backend can hold: no NUL."""

    def __init__(self, **kwargs: Any) -> None:
        given = kwargs.pop("validate", None)
        others = [] if given is None else list(given) if isinstance(given, (list, tuple)) else [given]
        # A field with a pattern of its own (an instance id, a cursor) gets no NUL through it already.
        patterned = any(isinstance(check, validate.Regexp) for check in others)
        super().__init__(validate=others if patterned else [*others, _NO_NUL], **kwargs)


def _within_utc(moment: datetime) -> datetime:
    """Return ``moment`` unchanged when it can be written in UTC; refuse it otherwise."""
    if moment.tzinfo is not None:
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("in UTC, this moment falls outside the years 1 to 9999") from None
    return moment


class Moment(fields.DateTime):
    """An ISO 8601 moment; without an offset it is read as UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        return _within_utc(super()._deserialize(value, attr, data, **kwargs))


class AwareMoment(fields.AwareDateTime):
    """An RFC 3339 moment with an offset."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        return _within_utc(super()._deserialize(value, attr, data, **kwargs))
