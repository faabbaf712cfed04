"""What differs between two scenarios, setting by setting, in the ``--set`` dotted syntax.

``natsim diff A B`` and ``natsim compare`` show it: a planner comparing two runs
must see what was changed between them (``labs.henan-mobile-1.pcr.instruments:
46 -> 60``), not only that the results differ. Both scenarios are compared as the
plain data natsim writes them in (durations and clock times as text). Points,
labs and routes are matched by their ids (``points.ZL-TQ-001.stations``), so a
reordered list is no change; other lists are compared as values. The zone table
is compared as a table: zones added or removed, and zones whose people, point,
window or homebound count differ.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .schema import Scenario

#: lists whose items are matched by their id
_BY_ID = {"points", "labs", "routes"}


class Change(NamedTuple):
    """One setting that differs: where (dotted, as ``--set`` writes it), and its values."""

    path: str
    before: Any  # None: not there in A
    after: Any  # None: not there in B

    def describe(self) -> str:
        def shown(value: Any) -> str:
            return "(none)" if value is None else str(value)

        return f"{self.path}: {shown(self.before)} -> {shown(self.after)}"


def _data(scenario: Scenario) -> dict[str, Any]:
    return scenario.model_dump(mode="json", by_alias=True, exclude={"demand": {"zones"}})


def _walk(a: Any, b: Any, path: str, out: list[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            _walk(a.get(key), b.get(key), f"{path}.{key}" if path else str(key), out)
        return
    last = path.rsplit(".", 1)[-1]
    if (
        last in _BY_ID
        and isinstance(a, list)
        and isinstance(b, list)
        and all(isinstance(x, dict) and "id" in x for x in a + b)
    ):
        ours = {x["id"]: x for x in a}
        theirs = {x["id"]: x for x in b}
        for key in list(ours) + [k for k in theirs if k not in ours]:
            if key not in theirs:
                out.append(Change(f"{path}.{key}", "present", None))
            elif key not in ours:
                out.append(Change(f"{path}.{key}", None, "added"))
            else:
                _walk(ours[key], theirs[key], f"{path}.{key}", out)
        return
    if a != b:
        out.append(Change(path, a, b))


def _zones(a: Scenario, b: Scenario) -> list[Change]:
    za, zb = a.demand.zones.to_frame(), b.demand.zones.to_frame()
    out = []
    ids_a, ids_b = set(za["id"]), set(zb["id"])
    if ids_a - ids_b:
        out.append(Change("demand.zones", f"{len(ids_a - ids_b):,} zones", "removed"))
    if ids_b - ids_a:
        out.append(Change("demand.zones", None, f"{len(ids_b - ids_a):,} zones added"))
    both = za.merge(zb, on="id", suffixes=("_a", "_b"))
    for column in ("population", "point", "lat", "lon", "open", "close", "homebound"):
        x, y = both[f"{column}_a"], both[f"{column}_b"]
        differ = ~((x == y) | (pd.isna(x) & pd.isna(y))).to_numpy()
        if differ.any():
            if column == "population":
                total = int(np.asarray(y - x)[differ].sum())
                what = f"{int(differ.sum()):,} zones differ ({total:+,} people)"
            else:
                what = f"{int(differ.sum()):,} zones differ"
            out.append(Change(f"demand.zones.{column}", None, what))
    return out


def scenario_diff(a: Scenario, b: Scenario) -> list[Change]:
    """Every setting that differs from ``a`` to ``b``, in the order of the schema; the same
    change at several points is one line (``points.*.stations``: every point;
    ``points.(12 points).stations``: some)."""
    out: list[Change] = []
    _walk(_data(a), _data(b), "", out)
    ids = [p.id for p in a.points]
    return _grouped(out, {p for p in ids if any(q.id == p for q in b.points)}) + _zones(a, b)


def _grouped(changes: list[Change], both: set[str]) -> list[Change]:
    """Changes that are the same at several points, as one change."""
    points: dict[tuple[str, str, str], list[str]] = {}
    rest: list[Change | tuple[str, str, str]] = []
    for change in changes:
        head, _, tail = change.path.partition(".")
        pid, _, field = tail.partition(".")
        if head == "points" and field and pid in both:
            key = (field, repr(change.before), repr(change.after))
            if key not in points:
                points[key] = []
                rest.append(key)
            points[key].append(pid)
            continue
        rest.append(change)
    out = []
    examples = {
        (c.path.partition(".")[2].partition(".")[2], repr(c.before), repr(c.after)): c
        for c in changes
    }
    for item in rest:
        if isinstance(item, Change):
            out.append(item)
            continue
        field, _, _ = item
        where = points[item]
        one = examples[item]
        if len(where) == 1:
            out.append(Change(f"points.{where[0]}.{field}", one.before, one.after))
        else:
            which = "*" if len(where) == len(both) else f"({len(where):,} points)"
            out.append(Change(f"points.{which}.{field}", one.before, one.after))
    return out
