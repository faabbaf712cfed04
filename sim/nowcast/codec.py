"""A round's exact state (:class:`~sim.model.state.RoundState`) as JSON and arrays.

What ``natsim run --until`` writes beside the readable state files, so that a
nowcast of a saved state carries on to the second (``exact.json`` and
``exact.npz`` in the state folder). No pickle: a state folder is user input,
and unpickling runs whatever the file says. The JSON names each object's type
from a fixed list (:data:`TYPES`) and refers to arrays by key in the ``.npz``
(read with ``allow_pickle=False``); tuples, dicts with number keys and floats
such as NaN keep their kind.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..model.collect import CollectionState
from ..model.engine import Pending
from ..model.lab import LabState, PoolState, StepState
from ..model.ledger import Bag, Plate, StopRecord, TripRecord
from ..model.state import RoundState
from ..model.transport import RouteState, TripState

#: every object type an exact state holds, by the name written in the file
TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        RoundState, CollectionState, Pending, LabState, PoolState, StepState, Bag, Plate,
        StopRecord, TripRecord, RouteState, TripState,
    )
}  # fmt: skip
JSON_NAME, ARRAYS_NAME = "exact.json", "exact.npz"
FORMAT = 1


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value
            return {"$array": key}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, bool | int | float | str) or value is None:
            return value
        name = type(value).__name__
        if name in TYPES and type(value) is TYPES[name]:
            if hasattr(value, "_fields"):  # a NamedTuple
                fields = {f: getattr(value, f) for f in value._fields}
            elif dataclasses.is_dataclass(value):
                fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            else:  # a slotted record (Bag, Plate)
                slots: tuple[str, ...] = getattr(type(value), "__slots__", ())
                fields = {f: getattr(value, f) for f in slots}
            return {"$type": name, **{k: self.encode(v) for k, v in fields.items()}}
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                return {"$dict": {k: self.encode(v) for k, v in value.items()}}
            return {"$pairs": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        raise TypeError(f"a state holds a {type(value).__name__}, which cannot be written")


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "$array" in value:
        return arrays[value["$array"]]
    if "$tuple" in value:
        return tuple(_decode(v, arrays) for v in value["$tuple"])
    if "$dict" in value:
        return {k: _decode(v, arrays) for k, v in value["$dict"].items()}
    if "$pairs" in value:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value["$pairs"]}
    name = value.get("$type")
    cls = TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"an unknown kind of record in the state: {name!r}")
    fields = {k: _decode(v, arrays) for k, v in value.items() if k != "$type"}
    if hasattr(cls, "_fields") or dataclasses.is_dataclass(cls):
        return cls(**fields)
    record: Any = object.__new__(cls)  # a slotted record: set its slots as they were
    for k, v in fields.items():
        setattr(record, k, v)
    return record


def write_exact(state: RoundState, folder: Path) -> list[str]:
    """Write ``state`` into ``folder`` (:data:`JSON_NAME`, :data:`ARRAYS_NAME`); the names."""
    writer = _Writer()
    body = {"format": FORMAT, "state": writer.encode(state)}
    (folder / JSON_NAME).write_text(json.dumps(body), encoding="utf-8")
    np.savez_compressed(folder / ARRAYS_NAME, **writer.arrays)  # type: ignore[arg-type]
    return [JSON_NAME, ARRAYS_NAME]


def read_exact(folder: Path) -> RoundState:
    """The state :func:`write_exact` wrote into ``folder``."""
    body = json.loads((folder / JSON_NAME).read_text(encoding="utf-8"))
    if body.get("format") != FORMAT:
        raise ValueError(f"{folder / JSON_NAME}: written by another version of natsim")
    with np.load(folder / ARRAYS_NAME, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    state = _decode(body["state"], arrays)
    if not isinstance(state, RoundState):
        raise ValueError(f"{folder / JSON_NAME}: not a round's state")
    return state
