"""Frozen dataclass ↔ JSON-able dict, with unknown keys as errors (the project's parameters are frozen
dataclasses that serialise to JSON and back).

Shared by noisegen.isp.params.SampleParams, trainer.models.config.ModelConfig and trainer.stages.sn_config.TrainConfig.
``dataclass_to_dict`` turns tuple fields into lists (JSON has no tuples); ``dataclass_from_dict``
passes lists on unchanged, because each class's ``__post_init__`` validates its fields and
normalises lists back to tuples (so its error messages show the values as they were given).
Missing keys take the dataclass's defaults; a missing field without a default is the TypeError of
the constructor.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["dataclass_to_dict", "dataclass_from_dict"]

T = TypeVar("T")


def dataclass_to_dict(obj: Any) -> dict[str, Any]:
    """Plain dict of a dataclass instance's fields, in field order; tuple values become lists.

    Only top-level tuples are converted (the fields of our parameter classes are flat).
    """
    return {f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v) for f in dataclasses.fields(obj)}


def dataclass_from_dict(cls: type[T], d: Any) -> T:
    """``cls(**d)`` after checking that ``d`` is a dict whose keys are all fields of ``cls``.

    Raises:
        TypeError: ``d`` is not a dict ("<Class>.from_dict: expected a dict, got <type>").
        ValueError: ``d`` has keys that are not fields ("<Class>: unknown fields [...]; known
            fields are [...]"), so that a typo never passes silently.
    """
    name = cls.__name__
    if not isinstance(d, dict):
        raise TypeError(f"{name}.from_dict: expected a dict, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{name}: unknown fields {unknown}; known fields are {sorted(known)}")
    return cls(**d)
