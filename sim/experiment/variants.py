"""Scenario variants from the command line's ``--vary`` and ``--resource`` options.

They use the dotted paths of ``--set`` (:mod:`sim.scenario.overrides`), and a
mistake is reported as one :class:`~sim.scenario.ScenarioError` that names the
option and the path, e.g. ``--vary: labs.nowhere.pcr.instruments: no element
'nowhere' (ids: luohe-cdc, ...)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..scenario import Scenario, ScenarioError, apply_changes, parse_assignment
from ..scenario.errors import ScenarioErrors
from ..scenario.overrides import get_values


def renamed(exc: ScenarioError, option: str) -> ScenarioError:
    """The same error, attributed to ``option`` instead of ``--set``."""
    file = option if exc.file == "--set" else exc.file
    if isinstance(exc, ScenarioErrors):
        return ScenarioErrors([renamed(e, option) for e in exc.errors], exc.more)
    return ScenarioError(file, exc.line, exc.field, exc.message, exc.column)


def variant(scenario: Scenario, changes: Mapping[str, Any], option: str = "--set") -> Scenario:
    """``scenario`` with ``changes`` applied and validated; errors name ``option``."""
    try:
        return apply_changes(scenario, dict(changes))
    except ScenarioError as exc:
        raise renamed(exc, option) from None


def current(scenario: Scenario, path: str, option: str = "--set") -> list[Any]:
    """The values at ``path`` in ``scenario``; errors name ``option``."""
    try:
        return get_values(scenario, path)
    except ScenarioError as exc:
        raise renamed(exc, option) from None


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``"labs.L.pcr.instruments=2,3,4"`` -> ``("labs.L.pcr.instruments", [2, 3, 4])``.

    Each value is read as a YAML scalar, as ``--set`` reads its value.
    """
    if "=" not in text:
        raise ScenarioError(
            "--vary",
            None,
            text,
            "expected PATH=V1,V2,..., e.g. labs.city-cdc.pcr.instruments=20,30",
        )
    path, raw = text.split("=", 1)
    values = []
    for piece in raw.split(","):
        if not piece.strip():
            raise ScenarioError("--vary", None, path.strip(), f"empty value in '{raw}'")
        try:
            _, value = parse_assignment(f"{path}={piece.strip()}")
        except ScenarioError as exc:
            raise renamed(exc, "--vary") from None
        values.append(value)
    path = path.strip()
    if not path:
        raise ScenarioError("--vary", None, text, "empty path")
    if len(set(map(label, values))) != len(values):
        raise ScenarioError("--vary", None, path, f"a value is listed twice in '{raw}'")
    return path, values


def label(value: Any) -> str:
    """A value as a short text (for tables, plots and file names)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if isinstance(value, int | float | bool) or value is None:
        return str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
