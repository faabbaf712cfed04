"""The scenario back as YAML: what a run folder keeps as ``scenario.yaml``.

Points list only what differs from ``point_defaults``, one point a line, so a
city of thousands of points stays readable and quick to write; loading the file
again (with the zone table) gives the same scenario.
"""

from __future__ import annotations

from typing import Any

import yaml

from .schema import Scenario

# libyaml is ten times faster where PyYAML was built with it
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _FlowPoints(list[Any]):
    """A list whose mappings are written one a line."""


def _represent_flow(dumper: yaml.SafeDumper, data: _FlowPoints) -> yaml.Node:
    node = dumper.represent_list(data)
    for item in node.value:
        if isinstance(item, yaml.MappingNode):
            item.flow_style = True
    return node


_Dumper.add_representer(_FlowPoints, _represent_flow)


def scenario_data(scenario: Scenario, zones_ref: dict[str, str] | None = None) -> dict[str, Any]:
    """Plain data of the scenario (durations and clock times as text), points compacted."""
    data = scenario.model_dump(mode="json", by_alias=True, exclude={"demand": {"zones"}})
    defaults = data["point_defaults"]
    compact = []
    for point in data["points"]:
        compact.append(
            {k: v for k, v in point.items() if k in ("id", "lat", "lon") or defaults.get(k) != v}
        )
    data["points"] = _FlowPoints(compact)
    if zones_ref is not None:
        data["demand"] = {"zones": zones_ref, **data["demand"]}
    return data


def scenario_yaml(scenario: Scenario, zones_ref: dict[str, str] | None = None) -> str:
    return yaml.dump(
        scenario_data(scenario, zones_ref),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=120,
    )
