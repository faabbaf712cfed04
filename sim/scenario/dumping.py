"""The scenario back as YAML: what a run folder keeps as ``scenario.yaml``.

Points list only what differs from ``point_defaults``, one point a line, so a
city of thousands of points stays readable and quick to write; loading the file
again (with the zone table) gives the same scenario.

Points are serialised only in the fields where some point differs from the
defaults (found by comparing the Python values, cheap because points made from
a CSV share the default's nested objects): serialising every field of every
point would run the duration and clock formatters thousands of times for values
the file then leaves out.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from .schema import Scenario

# libyaml is ten times faster where PyYAML was built with it
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_ENCODER = json.JSONEncoder(ensure_ascii=False)  # what json.dumps(..., ensure_ascii=False) uses
_KEPT = ("id", "lat", "lon")  # written for every point
_SCALARS = frozenset((str, int, bool, type(None)))  # JSON writes these as YAML reads them


def _json_safe(value: Any) -> bool:
    """True when JSON spells ``value`` the way YAML reads it back (YAML 1.1 wants a dot in floats)."""
    if isinstance(value, float):
        text = repr(value)
        return "." in text and "e" not in text and "n" not in text
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and (type(v) in _SCALARS or _json_safe(v)) for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    return value is None or isinstance(value, str | int | bool)


def _point_line(point: dict[str, Any]) -> str:
    """One point as a flow mapping on one line: JSON where it is safe YAML (fast), else PyYAML."""
    if _json_safe(point):
        return "- " + _ENCODER.encode(point)
    text = yaml.dump(
        [point], Dumper=_Dumper, default_flow_style=True, allow_unicode=True, width=10**6
    )
    return "- " + text.strip()[1:-1]


def _varying(scenario: Scenario) -> set[str]:
    """The ``point_defaults`` fields in which at least one point differs from the defaults.

    Points read from a CSV share their nested values (windows, distributions), so
    each distinct object is compared with the default once.
    """
    defaults = scenario.point_defaults
    values = [(name, getattr(defaults, name)) for name in type(defaults).model_fields]
    varying: set[str] = set()
    same: dict[int, bool] = {}  # id of a value already compared -> equal to its default
    for point in scenario.points:
        for name, default in values:
            value = getattr(point, name)
            if value is default:
                continue
            key = id(value)
            if key not in same:
                same[key] = value == default
            if not same[key]:
                varying.add(name)
    return varying


def _points_data(scenario: Scenario, defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Each point's id, location and the fields (as plain data) that differ from ``defaults``.

    A setting written more than one way (window or windows; stations, samplers or
    shifts) is written whole when any part of it differs: a point's own part replaces
    every part of the defaults when the file is read back (``PARTNERS``).
    """
    fields = set(_KEPT) | _varying(scenario)
    for group in _GROUPS:
        if fields & group:
            fields |= group
    dumped = scenario.model_dump(
        mode="json", by_alias=True, include={"points": {"__all__": fields}}
    )
    out = []
    for point in dumped["points"]:
        own = {k: v for k, v in point.items() if k in _KEPT or defaults.get(k) != v}
        for group in _GROUPS:
            if own.keys() & group:
                own.update({k: point[k] for k in group if k in point})
        out.append(own)
    return out


#: the parts of a point's settings that are written more than one way
_GROUPS = (frozenset({"window", "windows"}), frozenset({"stations", "samplers", "shifts"}))


def scenario_data(scenario: Scenario, zones_ref: dict[str, str] | None = None) -> dict[str, Any]:
    """Plain data of the scenario (durations and clock times as text), points compacted."""
    rest = scenario.model_dump(
        mode="json", by_alias=True, exclude={"demand": {"zones"}, "points": True}
    )
    data: dict[str, Any] = {}
    for key, value in rest.items():  # in the schema's order, points after point_defaults
        data[key] = value
        if key == "point_defaults":
            data["points"] = _points_data(scenario, value)
    if zones_ref is not None:
        data["demand"] = {"zones": zones_ref, **data["demand"]}
    return data


def scenario_yaml(scenario: Scenario, zones_ref: dict[str, str] | None = None) -> str:
    """The scenario as YAML text, points one a line (a city has thousands)."""
    data = scenario_data(scenario, zones_ref)
    points = data.pop("points")
    head = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    lines = "\n".join(_point_line(p) for p in points)
    # keep the file in the schema's order: points after point_defaults, before transport
    before, marker, after = head.partition("\ntransport:")
    return f"{before}\npoints:\n{lines}{marker}{after}"
