"""The scenario: schema, loading with file/line errors, and variants by dotted path."""

from .loading import ScenarioError, load_scenario
from .overrides import apply_changes, parse_assignment
from .schema import Lab, Point, Route, Scenario
from .zones import ZoneTable

__all__ = [
    "Lab",
    "Point",
    "Route",
    "Scenario",
    "ScenarioError",
    "ZoneTable",
    "apply_changes",
    "load_scenario",
    "parse_assignment",
]
