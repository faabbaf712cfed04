"""The scenario back as YAML: what a run folder keeps as ``scenario.yaml``.

Points list only what differs from ``point_defaults``, one point a line, so a
city of thousands of points stays readable and quick to write; loading the file
again (with the zone table) gives the same scenario.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from .schema import Scenario

# libyaml is ten times faster where PyYAML was built with it
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _json_safe(value: Any) -> bool:
    """True when JSON spells ``value`` the way YAML reads it back (YAML 1.1 wants a dot in floats)."""
    if isinstance(value, float):
        text = repr(value)
        return "." in text and "e" not in text and "n" not in text
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    return value is None or isinstance(value, str | int | bool)


def _point_line(point: dict[str, Any]) -> str:
    """One point as a flow mapping on one line: JSON where it is safe YAML (fast), else PyYAML."""
    if _json_safe(point):
        return "- " + json.dumps(point, ensure_ascii=False)
    text = yaml.dump(
        [point], Dumper=_Dumper, default_flow_style=True, allow_unicode=True, width=10**6
    )
    return "- " + text.strip()[1:-1]


def scenario_data(scenario: Scenario, zones_ref: dict[str, str] | None = None) -> dict[str, Any]:
    """Plain data of the scenario (durations and clock times as text), points compacted."""
    data = scenario.model_dump(mode="json", by_alias=True, exclude={"demand": {"zones"}})
    defaults = data["point_defaults"]
    data["points"] = [
        {k: v for k, v in point.items() if k in ("id", "lat", "lon") or defaults.get(k) != v}
        for point in data["points"]
    ]
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
