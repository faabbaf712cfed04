"""Variants of a scenario by dotted paths: ``labs.city-cdc.pcr.instruments=30``.

One mechanism serves the CLI's ``--set``, notebooks' ``Scenario.with_changes``
and sweeps. A path walks mappings by key and lists by element ``id`` (or
position); ``*`` means every element. A point's own setting wins over
``point_defaults`` (see :func:`apply_changes`). The result is validated again,
so a variant is as trustworthy as a file.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ..distributions import duration_dist
from .errors import ScenarioError, translate

Model = TypeVar("Model", bound=BaseModel)  # the Scenario: only its class's validation is used


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"a.b=3"`` -> ``("a.b", 3)``; the value is read as a YAML scalar or list, never evaluated."""
    if "=" not in text:
        raise ScenarioError(
            "--set", None, text, "expected PATH=VALUE, e.g. labs.city-cdc.pcr.instruments=30"
        )
    path, raw = text.split("=", 1)
    path = path.strip()
    if not path:
        raise ScenarioError("--set", None, text, "empty path")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, int) and ":" in raw:  # "07:00" read as sexagesimal by YAML 1.1
        value = raw.strip()
    return path, value


def apply_changes(scenario: Model, changes: dict[str, Any]) -> Model:
    """A validated copy of ``scenario`` with each dotted path set to its value.

    One precedence rule, as in a file: a point's own setting (its CSV column, its
    key in the file, or a change to ``points.<id>.X``) wins over
    ``point_defaults``. So a change to ``point_defaults.X`` changes the default and
    every point that uses it; points with their own X keep it (the scenario's
    ``notes`` say how many), and ``points.*.X`` changes every point.
    """
    data = _dump(scenario)
    zones = _zones(scenario)
    points = getattr(scenario, "points", ())
    own = [set(getattr(p, "own", ())) for p in points]
    notes = list(getattr(scenario, "notes", ()))
    for path, value in changes.items():
        parts = path.split(".")
        if parts[:2] == ["demand", "zones"]:
            if len(parts) != 2:
                raise ScenarioError(
                    "--set", None, path, "zones are a table: replace demand.zones whole"
                )
            zones = value
            continue
        _assign(data, parts, value, path)
        if parts[0] == "labs" and len(parts) == 4 and parts[3] in ("staff", "instruments"):
            for lab in _select(data["labs"], parts[1], path):  # given now: no longer derived
                lab["derived"] = [d for d in lab.get("derived") or () if d != parts[2]]
        if parts[0] == "point_defaults" and len(parts) > 1:
            field = parts[1]
            kept = 0
            for k, point in enumerate(data["points"]):
                if k < len(own) and (field in own[k] or own[k] & set(_PARTNERS.get(field, ()))):
                    kept += 1
                    continue
                _assign(point, parts[1:], copy.deepcopy(value), path)
            if kept:
                notes.append(
                    f"{path}={_shown(value)} changed the default: {kept:,} of "
                    f"{len(data['points']):,} points have their own {_as_set(field)} and keep it "
                    f"(to change every point: --set points.*.{'.'.join(parts[1:])}=...)"
                )
        elif parts[0] == "points" and len(parts) > 2:
            for k in _positions(data["points"], parts[1], path):
                if k < len(own):
                    own[k].add(parts[2])
    data["demand"]["zones"] = zones
    try:
        out = type(scenario).model_validate(data)
    except ValidationError as exc:
        err = translate(exc, {}, "--set", data, type(scenario))
        raise ScenarioError(
            "--set",
            None,
            err.field,
            f"{err.message} (after {', '.join(f'{k}={v}' for k, v in changes.items())})",
        ) from None
    _carry(out, own, notes)
    return out


def _as_set(field: str) -> str:
    """A setting as a note names what points have of their own: a default of the less
    usual way of writing it (samplers, windows) is kept by points with the usual one."""
    return {"samplers": "samplers (or stations)", "windows": "windows (or window)"}.get(
        field, field
    )


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _positions(items: list[Any], key: str, path: str) -> list[int]:
    """Where the elements a path's ``key`` names stand in ``items`` (``*``: all)."""
    chosen = {id(x) for x in _select(items, key, path)}
    return [k for k, item in enumerate(items) if id(item) in chosen]


def _carry(scenario: BaseModel, own: list[set[str]], notes: list[str]) -> None:
    """Give a re-validated copy the points' own settings and the notes of the original."""
    for point, fields in zip(getattr(scenario, "points", ()), own, strict=False):
        point._own = frozenset(fields)
    scenario._notes = tuple(dict.fromkeys(notes))  # type: ignore[attr-defined]


def get_values(scenario: BaseModel, path: str) -> list[Any]:
    """The values at a dotted path (several where the path has ``*``), as plain data.

    Paths are read the way :func:`apply_changes` writes them; an unknown path
    raises :class:`ScenarioError` naming it.
    """
    parts = path.split(".")
    if parts[:2] == ["demand", "zones"]:
        raise ScenarioError("--set", None, path, "zones are a table, not a value")
    nodes: list[Any] = [_dump(scenario)]
    for head in parts:
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, dict):
                if head not in node:
                    raise ScenarioError("--set", None, path, f"no field '{head}' here")
                found.append(node[head])
            elif isinstance(node, list):
                found.extend(_select(node, head, path))
            else:
                raise ScenarioError("--set", None, path, f"'{head}' goes below a plain value")
        nodes = found
    return nodes


def fix_distributions(scenario: Model) -> Model:
    """Every random duration replaced by a fixed duration equal to its mean; no travel noise."""
    data = _dump(scenario)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "dist" in node:
                return {"dist": "fixed", "value": f"{_mean_of(node)!r}s"}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    fixed = walk(data)
    fixed["transport"]["travel"]["noise_cv"] = 0.0
    fixed["demand"]["zones"] = _zones(scenario)
    out = type(scenario).model_validate(fixed)
    own = [set(getattr(p, "own", ())) for p in getattr(scenario, "points", ())]
    _carry(out, own, list(getattr(scenario, "notes", ())))
    return out


def _mean_of(node: dict[str, Any]) -> float:
    return float(duration_dist(node).mean)


def _zones(scenario: BaseModel) -> Any:
    """The zone table, which is kept out of the dumped data (it is a table, not a value)."""
    return scenario.demand.zones  # type: ignore[attr-defined]


def _dump(scenario: BaseModel) -> dict[str, Any]:
    data = scenario.model_dump(mode="json", by_alias=True, exclude={"demand": {"zones"}})
    return data


def _assign(node: Any, parts: list[str], value: Any, path: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        if head not in node and rest:
            if head in _OPTIONAL_SECTIONS:
                node[head] = {}
            else:
                raise ScenarioError("--set", None, path, f"no field '{head}' here")
        if not rest:
            node[head] = value
            # settings written two ways are one setting: setting one replaces the others
            for partner in _PARTNERS.get(head, ()):
                node.pop(partner, None)
        else:
            if node[head] is None:
                node[head] = {}
            _assign(node[head], rest, value, path)
        return
    if isinstance(node, list):
        targets = _select(node, head, path)
        for target in targets:
            if rest:
                _assign(target, rest, value if len(targets) == 1 else copy.deepcopy(value), path)
            else:
                raise ScenarioError("--set", None, path, "cannot replace a whole list element")
        return
    raise ScenarioError("--set", None, path, f"'{head}' goes below a plain value")


#: settings written more than one way, and the others each replaces: a window or several;
#: a point's stations, samplers or roster of shifts; a lab stage's staff (instruments) or
#: its roster. Setting one (in --set, a point's own settings, an extending file) drops the
#: others, so that the one written wins.
PARTNERS: dict[str, tuple[str, ...]] = {
    "window": ("windows",),
    "windows": ("window",),
    "stations": ("samplers", "shifts"),
    "samplers": ("stations", "shifts"),
    "shifts": ("stations", "samplers", "staff", "instruments"),
    "staff": ("shifts",),
    "instruments": ("shifts",),
}
_PARTNERS = PARTNERS
_OPTIONAL_SECTIONS = {"relief", "window", "location", "matrix"}


def _select(items: list[Any], key: str, path: str) -> list[Any]:
    if key == "*":
        return items
    by_id = [
        item
        for item in items
        if isinstance(item, dict) and key in (str(item.get("id")), str(item.get("name")))
    ]
    if by_id:
        return by_id
    if key.isdigit() and int(key) < len(items):
        return [items[int(key)]]
    ids = [str(item.get("id", item.get("name"))) for item in items[:5] if isinstance(item, dict)]
    raise ScenarioError(
        "--set",
        None,
        path,
        f"no element '{key}' (ids: {', '.join(ids)}{', ...' if len(items) > 5 else ''})",
    )
