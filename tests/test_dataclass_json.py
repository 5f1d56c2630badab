"""noisegen.dataclass_json: frozen dataclass ↔ JSON-able dict (used by SampleParams, ModelConfig, TrainConfig)."""

import json
from dataclasses import dataclass

import pytest

from noisegen.dataclass_json import dataclass_from_dict, dataclass_to_dict


@dataclass(frozen=True)
class Point:
    name: str
    xy: tuple[float, ...] = (0.0, 0.0)
    tag: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "xy", tuple(self.xy))  # as our parameter classes do


def test_round_trip_through_json_turns_tuples_into_lists_and_back():
    p = Point("a", (0.1, 1 / 3), None)
    d = dataclass_to_dict(p)
    assert d == {"name": "a", "xy": [0.1, 1 / 3], "tag": None}
    assert list(d) == ["name", "xy", "tag"]  # field order
    assert dataclass_from_dict(Point, json.loads(json.dumps(d))) == p


def test_missing_keys_take_defaults_and_required_ones_fail():
    assert dataclass_from_dict(Point, {"name": "b"}) == Point("b")
    with pytest.raises(TypeError):
        dataclass_from_dict(Point, {"xy": [1, 2]})


def test_unknown_keys_name_the_class_and_the_keys():
    expected = r"Point: unknown fields \['nme', 'zz'\]; known fields are \['name', 'tag', 'xy'\]"
    with pytest.raises(ValueError, match=expected):
        dataclass_from_dict(Point, {"nme": "a", "zz": 1, "xy": [0, 0]})


def test_not_a_dict_is_a_type_error():
    with pytest.raises(TypeError, match="Point.from_dict: expected a dict, got list"):
        dataclass_from_dict(Point, [("name", "a")])
