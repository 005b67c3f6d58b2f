"""The shared request fields (api/fields.py), built here so that each rule is seen working."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError, validate

from process_memory.api.fields import AwareMoment, Moment, Text


def test_text_refuses_nul_and_keeps_its_own_checks() -> None:
    assert Text().deserialize("a b") == "a b"
    with pytest.raises(ValidationError) as refused:
        Text().deserialize("a\0b")
    assert refused.value.messages == ["must not contain NUL (\\u0000)"]
    short = Text(validate=validate.Length(max=3))
    with pytest.raises(ValidationError):
        short.deserialize("abcd")
    with pytest.raises(ValidationError, match="NUL"):
        short.deserialize("a\0")
    several = Text(validate=[validate.Length(max=3), validate.OneOf(["ab", "a\0"])])
    with pytest.raises(ValidationError, match="NUL"):
        several.deserialize("a\0")


def test_a_pattern_of_its_own_is_the_only_pattern() -> None:
    patterned = Text(validate=validate.Regexp(r"^[a-z]+$"))
    assert [type(check).__name__ for check in patterned.validators] == ["Regexp"]
    assert [type(check).__name__ for check in Text().validators] == ["Regexp"]
    assert len(Text(validate=validate.Length(max=3)).validators) == 2
    assert Text(required=True, metadata={"description": "d"}).required is True


@pytest.mark.parametrize("field", [Moment(), AwareMoment()])
def test_a_moment_must_stay_within_utc_years(field: Moment | AwareMoment) -> None:
    with pytest.raises(ValidationError) as refused:
        field.deserialize("0001-01-01T00:00:00+14:00")
    assert refused.value.messages == ["in UTC, this moment falls outside the years 1 to 9999"]
    with pytest.raises(ValidationError, match="outside the years"):
        field.deserialize("9999-12-31T23:59:59-14:00")
    assert field.deserialize("2026-11-26T10:00:00+01:00").isoformat() == "2026-11-26T10:00:00+01:00"


def test_a_moment_without_an_offset_is_taken_as_it_is() -> None:
    assert Moment().deserialize("0001-01-01T00:00:00").year == 1
