"""RequestRecord's constructor (filled through its slots): the dataclass it replaces, exactly."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from lstream_cli.models import ErrorClass, EventGaps, Knee, RequestRecord

FIELDS = [f.name for f in dataclasses.fields(RequestRecord)]


def _distinct_values() -> dict[str, object]:
    """A different value for every field, so a value in the wrong slot shows."""
    values: dict[str, object] = {name: 1000 + i for i, name in enumerate(FIELDS)}
    values.update(
        knee=Knee(1, 2.0, 3.0),
        complete=True,
        error=ErrorClass.HTTP_5XX,
        error_detail="boom",
        response_headers=(("a", "b"),),
        notes=("lenient",),
        event_gaps=EventGaps(2, (5, 6)),
    )
    return values


def test_every_field_lands_in_its_slot_by_position_and_by_keyword() -> None:
    values = _distinct_values()
    by_position = RequestRecord(*values.values())  # type: ignore[arg-type]
    by_keyword = RequestRecord(**values)  # type: ignore[arg-type]
    for name, value in values.items():
        assert getattr(by_position, name) == value, name
        assert getattr(by_keyword, name) == value, name
    assert by_position == by_keyword
    assert tuple(getattr(by_position, name) for name in FIELDS) == tuple(values.values())


def test_defaults_and_required_fields_are_the_dataclass_ones() -> None:
    params = inspect.signature(RequestRecord.__init__).parameters
    declared = {f.name: f for f in dataclasses.fields(RequestRecord)}
    assert list(params)[1:] == FIELDS
    for name, param in list(params.items())[1:]:
        default = declared[name].default
        expected = inspect.Parameter.empty if default is dataclasses.MISSING else default
        assert param.default == expected, name
    rec = RequestRecord(1, 200, None, 2, 3, 4, 10, 1, None, None, None, True, None)
    assert (rec.error_detail, rec.response_headers, rec.notes, rec.event_gaps) == (
        None,
        (),
        (),
        None,
    )
    with pytest.raises(TypeError):
        RequestRecord(1, 200)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        RequestRecord(*range(13), nonsense=1)  # type: ignore[call-arg, arg-type]


def test_the_record_stays_frozen_and_replace_still_works() -> None:
    rec = RequestRecord(1, 200, None, 2, 3, 4, 10, 1, None, None, None, True, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.status = 500  # type: ignore[misc]
    changed = dataclasses.replace(rec, notes=("x",), error=ErrorClass.TRUNCATED)
    assert (changed.notes, changed.error, changed.status) == (("x",), ErrorClass.TRUNCATED, 200)
    assert rec.notes == () and rec.error is None
    assert hash(rec) == hash(dataclasses.replace(rec))
