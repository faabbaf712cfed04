"""Reading a scenario file: YAML with line numbers, CSV tables beside it, one-line errors.

The YAML is composed into nodes first so that every value keeps the line it was
written on; CSV rows keep theirs too. Validation errors are translated back to
``file:line: field: message`` so a planner can go straight to the mistake.
Nothing is evaluated: YAML is read with the safe loader and ``--set`` values
are parsed as YAML scalars.

Plain (unquoted) clock times such as ``07:00`` are kept as text: YAML 1.1 would
otherwise read them as sexagesimal integers (420).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import Field, ValidationError

from ..gc_pause import collector_paused
from .errors import CSV_ROWS, Loc, Origin, ScenarioError, dotted, nearest_origin, translate
from .files import MAX_CSV_BYTES, MAX_YAML_BYTES, read_text
from .overrides import PARTNERS
from .schema import Count, Frozen, Point, Scenario, WindowField
from .zones import ZoneProblem, ZoneTable

_CLOCKLIKE = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
POINT_CSV_COLUMNS = (
    "id", "lat", "lon", "stations", "samplers", "pool", "tubes_per_bag", "open", "close",
)  # fmt: skip


class _PointRow(Frozen):
    """The columns a points CSV may set, validated on their own (see _points_from_template)."""

    id: str = Field(min_length=1)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    stations: Count | None = None
    samplers: Count | None = None
    pool: Literal[1, 5, 10, 20] | None = None
    tubes_per_bag: Count | None = None
    window: WindowField | None = None


def _points_from_template(defaults: Any, rows: list[dict[str, Any]]) -> list[Point] | None:
    """Points of a CSV as copies of one validated default point with their row's columns.

    Validating every point's nested distributions again costs ~0.2 ms a point, which
    matters for a city of thousands. Returns None when anything does not validate:
    the caller then validates plain dicts and reports the error with its line.
    """
    try:
        template = Point.model_validate(
            {**(defaults if isinstance(defaults, dict) else {}), "id": "template"}
        )
        out = []
        for row in rows:
            checked = _PointRow.model_validate(row)
            update = {k: getattr(checked, k) for k in row}
            if "samplers" in row or template.samplers is not None or template.shifts:
                return None  # stations from samplers or shifts: validate every point in full
            if "window" in row and template.windows:
                update["windows"] = ()  # a point's own window replaces the default windows
            out.append(template.model_copy(update=update))
        return out
    except (ValidationError, TypeError):
        return None


def load_scenario(path: str | Path, overrides: Iterable[str] = ()) -> Scenario:
    """Read, validate and freeze the scenario at ``path``.

    ``overrides`` are ``"dotted.path=value"`` strings (the CLI's ``--set``),
    applied to the validated scenario; see :func:`sim.scenario.overrides.apply_changes`.
    """
    with collector_paused():
        return _load(Path(path), overrides)


def _load(path: Path, overrides: Iterable[str]) -> Scenario:
    from .overrides import parse_assignment

    name = str(path)
    data, origins = _read_extended(path, ())
    own: list[frozenset[str]] = []
    source: list[str] = []
    data = _expand_tables(data, origins, path.parent, name, own, source)
    scenario = validate(data, origins, name)
    _record_provenance(scenario, data, own, source[0] if source else name)
    changes = dict(parse_assignment(item) for item in overrides)
    if changes:
        scenario = scenario.with_changes(changes)
    return scenario


MAX_EXTENDS = 8  # files one scenario may be built from (a chain of ``extends:``)


def _read_extended(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], dict[Loc, Origin]]:
    """The scenario file at ``path`` as data, with what its ``extends:`` file gives.

    ``extends: zhaoling.yaml`` (relative to the file) takes that scenario and lays
    this file over it: a mapping merges key by key, anything else (a number, a
    text, a list such as ``disruptions``) replaces the base's. Tables the base
    names (``{csv: ...}``) stay the base's files. Every value keeps the file and
    line it came from, so an error names the file that set it.
    """
    name = str(path)
    text = read_text(path, name, MAX_YAML_BYTES)
    data, origins = parse_yaml(text, name)
    if not isinstance(data, dict):
        raise ScenarioError(name, 1, "", "a scenario must be a mapping (round:, demand:, ...)")
    if "extends" not in data:
        return data, origins
    ref = data.pop("extends")
    _, line, column = origins.get(("extends",), (name, None, None))
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError(name, line, "extends", "extends names a scenario file", column)
    base = path.parent / ref
    here = path.resolve()
    if base.resolve() in (*chain, here):
        loop = " -> ".join(p.name for p in (*chain, here, base.resolve()))
        raise ScenarioError(
            name, line, "extends", f"a loop of files extending each other ({loop})", column
        )
    if len(chain) + 1 >= MAX_EXTENDS:
        raise ScenarioError(
            name, line, "extends", f"more than {MAX_EXTENDS} files extend one another", column
        )
    if not base.exists() and not base.is_symlink():
        raise ScenarioError(name, line, "extends", f"no such file '{ref}'", column)
    under, under_origins = _read_extended(base, (*chain, here))
    under = _rebase_tables(under, base.parent, path.parent)
    leaves = [loc for loc, value in _walk(data, ()) if not isinstance(value, dict)]
    kept = {
        loc: origin
        for loc, origin in under_origins.items()
        if not any(loc[: len(leaf)] == leaf for leaf in leaves)
    }
    return _overlay(under, data), {**kept, **origins}


def _walk(value: Any, loc: Loc) -> Iterable[tuple[Loc, Any]]:
    yield loc, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*loc, key))


def _overlay(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(under)
    for key in over:  # a setting written another way in the base gives way (PARTNERS)
        for partner in PARTNERS.get(key, ()):
            out.pop(partner, None)
    for key, value in over.items():
        if (
            isinstance(value, dict)
            and isinstance(out.get(key), dict)
            and not (_table_ref(value) or _parquet_ref(value))
        ):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = value
    return out


def _rebase_tables(value: Any, origin: Path, target: Path) -> Any:
    """``value`` with every ``{csv: ...}``/``{parquet: ...}`` path made relative to
    ``target`` (the extending file's folder) instead of ``origin``."""
    if isinstance(value, dict):
        for kind in ("csv", "parquet"):
            if set(value) == {kind} and isinstance(value[kind], str):
                return {kind: os.path.relpath(origin / value[kind], target)}
        return {k: _rebase_tables(v, origin, target) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebase_tables(v, origin, target) for v in value]
    return value


def validate(data: dict[str, Any], origins: dict[Loc, Origin], name: str) -> Scenario:
    """Validate raw data into a Scenario, translating errors to file and line."""
    if isinstance(data, dict) and "campaign" in data and "round" not in data:
        raise ScenarioError(
            name, None, "campaign", "a campaign file, not a scenario: run it with natsim campaign"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise translate(exc, origins, name, data, Scenario) from None


# libyaml's parser when PyYAML was built with it: ten times faster, with the same marks
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


#: values a scenario may expand to: a city's YAML holds a few thousand (its tables are CSV
#: files); this bounds what aliases of aliases ("billion laughs") can make of a small file
MAX_VALUES = 500_000
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{t}"
    for t in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
}


def parse_yaml(text: str, name: str) -> tuple[Any, dict[Loc, Origin]]:
    """Python data from YAML text, plus the (file, line, column) of every value by its path."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, name) from None
    origins: dict[Loc, Origin] = {}
    if node is None:
        return {}, origins
    budget = [MAX_VALUES]
    try:
        return _build(node, (), origins, name, loader, budget), origins
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, name) from None


def _yaml_error(exc: yaml.YAMLError, name: str) -> ScenarioError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    return ScenarioError(name, line, "", f"not valid YAML: {problem}", column)


def _origin(name: str, node: yaml.Node) -> Origin:
    return (name, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(
    node: yaml.Node,
    loc: Loc,
    origins: dict[Loc, Origin],
    name: str,
    loader: yaml.SafeLoader,
    budget: list[int],
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ScenarioError(
            name, node.start_mark.line + 1, dotted(loc),
            f"the file expands to more than {MAX_VALUES:,} values (YAML aliases of aliases?): "
            "put big tables in CSV files", node.start_mark.column + 1,
        )  # fmt: skip
    if node.tag not in _PLAIN_TAGS:
        raise ScenarioError(
            name, node.start_mark.line + 1, dotted(loc),
            f"unknown YAML tag '{node.tag}': a scenario is plain YAML (no ! tags)",
            node.start_mark.column + 1,
        )  # fmt: skip
    origins[loc] = _origin(name, node)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ScenarioError(
                    name, key_node.start_mark.line + 1, dotted(loc), "a key must be a plain word",
                    key_node.start_mark.column + 1,
                )  # fmt: skip
            key = str(loader.construct_object(key_node))
            if key in out:
                raise ScenarioError(
                    name, key_node.start_mark.line + 1, dotted((*loc, key)), "duplicate key",
                    key_node.start_mark.column + 1,
                )  # fmt: skip
            out[key] = _build(value_node, (*loc, key), origins, name, loader, budget)
            origins[(*loc, key)] = _origin(name, key_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*loc, i), origins, name, loader, budget)
            for i, item in enumerate(node.value)
        ]
    if isinstance(node, yaml.ScalarNode) and node.style is None and _CLOCKLIKE.match(node.value):
        return node.value
    return loader.construct_object(node, deep=True)


def _table_ref(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"csv"} and isinstance(value["csv"], str):
        return value["csv"]
    return None


def _parquet_ref(value: Any) -> str | None:
    """``{parquet: file}``: a zone table as a run folder keeps it."""
    if isinstance(value, dict) and set(value) == {"parquet"} and isinstance(value["parquet"], str):
        return value["parquet"]
    return None


def _read_csv(
    base: Path, ref: str, loc: Loc, origins: dict[Loc, Origin], name: str
) -> pd.DataFrame:
    csv_path = base / ref
    shown = str(csv_path)
    if not csv_path.exists() and not csv_path.is_symlink():
        _, line, column = origins.get(loc, (name, None, None))
        raise ScenarioError(name, line, dotted(loc), f"no such file '{ref}'", column)
    text = read_text(csv_path, shown, MAX_CSV_BYTES)
    if not text.strip():
        raise ScenarioError(shown, 1, "", "the file is empty: a CSV starts with a header line")
    try:
        # ids and references stay text ("007" is not 7); numbers parse natively, and a
        # column holding a bad value comes back as text for the validators to point at
        kinds = {"id": str, "point": str, "from": str, "to": str, "open": str, "close": str}
        return pd.read_csv(io.StringIO(text), dtype=kinds, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise _csv_error(text, shown, exc) from None


def _csv_error(text: str, shown: str, exc: Exception) -> ScenarioError:
    """A CSV that pandas cannot read, located by the first row with more fields than the
    header (counted by the csv module, which knows quoted line breaks)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, [])
        for row in rows:
            if len(row) > len(header):  # pandas fills short rows; a long one it cannot
                return ScenarioError(
                    shown, rows.line_num, "",
                    f"{len(row)} fields where the header has {len(header)} "
                    f"({', '.join(header)})",
                )  # fmt: skip
    except csv.Error as problem:
        return ScenarioError(shown, rows.line_num, "", f"not a readable CSV: {problem}")
    return ScenarioError(shown, None, "", f"not a readable CSV: {exc}")


INLINE = "points: in the file"  # where points come from when no CSV gives them


def _record_provenance(
    scenario: Scenario, data: dict[str, Any], own: list[frozenset[str]], source: str
) -> None:
    """Tell each point which settings it gave itself, and note a default no point uses (or,
    from a CSV, one its column overrides at some points)."""
    if len(own) != len(scenario.points):
        return
    for point, fields in zip(scenario.points, own, strict=True):
        point._own = fields
    defaults = data.get("point_defaults")
    notes = []
    if isinstance(defaults, dict):
        for key in defaults:
            overriding = sum(key in fields for fields in own)
            if overriding == len(own):
                notes.append(
                    f"point_defaults.{key} is used by no point: every point has its own {key} "
                    f"({source}); change it there, or with --set points.*.{key}=..."
                )
            elif overriding and source != INLINE:  # a CSV column is easy to overlook
                notes.append(
                    f"point_defaults.{key} is overridden at {overriding:,} of {len(own):,} "
                    f"points by their own {key} ({source})"
                )
    scenario._notes = (*scenario._notes, *notes)


def _expand_tables(
    data: dict[str, Any],
    origins: dict[Loc, Origin],
    base: Path,
    name: str,
    own: list[frozenset[str]] | None = None,
    source: list[str] | None = None,
) -> dict[str, Any]:
    """Replace ``{csv: file}`` references by their rows, keeping each row's line.

    ``own`` is filled with each point's settings of its own (its CSV columns or its
    keys in the file), ``source`` with where the points come from."""
    data = dict(data)
    demand = data.get("demand")
    if isinstance(demand, dict) and "zones" in demand:
        demand = dict(demand)
        demand["zones"] = _zone_table(demand["zones"], base, origins, name)
        data["demand"] = demand
    ref = _table_ref(data.get("points"))
    if ref is not None:
        frame = _read_csv(base, ref, ("points",), origins, name)
        unknown = [c for c in frame.columns if c not in POINT_CSV_COLUMNS]
        csv_name = str(base / ref)
        if unknown:
            raise ScenarioError(
                csv_name, 1, unknown[0], f"unknown column (allowed: {', '.join(POINT_CSV_COLUMNS)})"
            )
        rows: list[dict[str, Any]] = []
        for i, record in enumerate(frame.to_dict("records")):
            row = {k: v for k, v in record.items() if not pd.isna(v)}
            if "open" in row or "close" in row:
                row["window"] = [row.pop("open", None), row.pop("close", None)]
            for key in ("lat", "lon"):
                if key in row:
                    row[key] = _number(row[key])
            for key in ("stations", "samplers", "pool", "tubes_per_bag"):
                if key in row:
                    row[key] = _number(row[key])
            rows.append(row)
            for key in (*row, "", *POINT_CSV_COLUMNS):
                origins[("points", i, key) if key else ("points", i)] = (csv_name, i + 2, None)
        built = _points_from_template(data.get("point_defaults"), rows)
        data["points"] = built if built is not None else rows
        if own is not None and source is not None:
            own.extend(frozenset(row) - {"id"} for row in rows)
            source.append(ref)
    points = data.get("points")
    if isinstance(points, list) and not (points and isinstance(points[0], Point)):
        if own is not None and source is not None and not source:
            own.extend(
                frozenset(p) - {"id"} if isinstance(p, dict) else frozenset() for p in points
            )
            source.append(INLINE)
        data["points"] = _merge_defaults(data.get("point_defaults"), points, origins)
    transport = data.get("transport")
    if isinstance(transport, dict) and isinstance(transport.get("travel"), dict):
        travel = transport["travel"]
        ref = _table_ref(travel.get("matrix"))
        if ref is not None:
            loc: Loc = ("transport", "travel", "matrix")
            frame = _read_csv(base, ref, loc, origins, name)
            if list(frame.columns) != ["from", "to", "minutes"]:
                raise ScenarioError(
                    str(base / ref), 1, "", "matrix columns must be: from,to,minutes"
                )
            matrix: dict[str, dict[str, str]] = {}
            for i, (a, b, minutes) in enumerate(frame.itertuples(index=False)):
                value = _number(minutes)
                if not isinstance(value, int | float) or value < 0:
                    raise ScenarioError(
                        str(base / ref),
                        i + 2,
                        "minutes",
                        f"'{minutes}' is not a travel time in minutes",
                    )
                matrix.setdefault(str(a), {})[str(b)] = f"{float(value)!r}min"
            data["transport"] = {**transport, "travel": {**travel, "matrix": matrix}}
    return data


def _zone_table(value: Any, base: Path, origins: dict[Loc, Origin], name: str) -> Any:
    loc: Loc = ("demand", "zones")
    ref = _table_ref(value)
    parquet = _parquet_ref(value)
    try:
        if parquet is not None:
            try:
                return ZoneTable.from_frame(pd.read_parquet(base / parquet))
            except (OSError, ValueError) as exc:
                _, line, column = origins.get(loc, (name, None, None))
                raise ScenarioError(
                    name, line, "demand.zones", f"cannot read '{parquet}': {exc}", column
                ) from None
        if ref is not None:
            frame = _read_csv(base, ref, loc, origins, name)
            origins[(*loc, CSV_ROWS)] = (str(base / ref), 2, None)  # row i is on line i + 2
            return ZoneTable.from_frame(frame)
        if isinstance(value, list):
            return ZoneTable.from_records(value)
    except ZoneProblem as exc:
        row_loc: Loc = loc if exc.row is None else (*loc, exc.row)
        file, line, column = nearest_origin(
            (*row_loc, exc.column) if exc.column else row_loc, origins, name
        )
        if exc.row is None and ref is not None:
            file, line, column = str(base / ref), 1, None
        field = dotted((*row_loc, exc.column) if exc.column else row_loc)
        raise ScenarioError(file, line, field, str(exc), column) from None
    _, line, column = origins.get(loc, (name, None, None))
    raise ScenarioError(name, line, "demand.zones", "zones must be a list or {csv: file}", column)


def _merge_defaults(defaults: Any, points: list[Any], origins: dict[Loc, Origin]) -> list[Any]:
    """Each point's settings over ``point_defaults``; fields taken from the defaults keep their line."""
    if not isinstance(defaults, dict):
        return points
    merged = []
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            merged.append(point)
            continue
        own = dict(defaults)
        for key in point:  # a point's own window(s), stations, samplers or shifts win
            for partner in PARTNERS.get(key, ()):
                own.pop(partner, None)
        for key in own:
            if key not in point and ("point_defaults", key) in origins:
                origins[("points", i, key)] = origins[("point_defaults", key)]
        merged.append({**own, **point})
    return merged


def _number(text: Any) -> Any:
    """A CSV cell as int or float where it is one, else unchanged (validation will say)."""
    if not isinstance(text, str):
        return text
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
