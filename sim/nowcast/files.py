"""A round's state as a folder of small readable files, written and read back.

``natsim run SCENARIO --until 10:00`` writes, into ``<run folder>/state/``:

``state.yaml``
    the round's name, the clock time of the state, and (written by natsim) the seed,
    replication and a digest of each file below;
``points.csv``
    a row per point: ``point, swabbed, in_line, tubes_sealed, tubes_waiting,
    in_open_tubes``;
``vehicles.csv``
    a row per vehicle under way with tubes: ``route, vehicle, tubes, lab, arrives``
    (``arrives`` blank while it still visits points);
``labs.csv``
    a row per lab step with work: ``lab, step, waiting, running, ends`` (tubes waiting
    for the step, tubes in its runs under way, when the last of those ends);
``exact.json``, ``exact.npz``
    the rest, to the second (:mod:`sim.nowcast.codec`): a nowcast of the folder as
    written carries on exactly where the round stopped.

A planner writes the same files from the counts of the day (``exact.*`` absent; in
``points.csv`` only ``point, swabbed, in_line, tubes_waiting`` are required, and
``vehicles.csv`` and ``labs.csv`` may be left out): they are read with every
problem named by file, line and column, as a scenario's are, and the rules of
:mod:`sim.nowcast.observed` fill what counts do not say. A saved folder whose
readable files were edited is refused while ``exact.*`` is there (its detail no
longer describes them): delete ``exact.*`` to nowcast from the edited counts.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..experiment.store import scenario_digest
from ..model.geo import routes_for
from ..model.state import RoundState
from ..scenario import Scenario, ScenarioError
from ..scenario.errors import MAX_ERRORS, ScenarioErrors, translate
from ..scenario.loading import parse_yaml
from ..stages import process_of
from ..units import format_clock, parse_clock
from .codec import ARRAYS_NAME, JSON_NAME, read_exact, write_exact
from .observed import Observed, PointCount, StepCount, VehicleCount, build_state

STATE_FILE = "state.yaml"
READABLE = ("points.csv", "vehicles.csv", "labs.csv")
#: each file's columns: (name, required)
COLUMNS: dict[str, tuple[tuple[str, bool], ...]] = {
    "points.csv": (
        ("point", True), ("swabbed", True), ("in_line", True), ("tubes_waiting", True),
        ("tubes_sealed", False), ("in_open_tubes", False),
    ),
    "vehicles.csv": (
        ("route", True), ("vehicle", False), ("tubes", True), ("lab", False), ("arrives", True),
    ),
    "labs.csv": (
        ("lab", True), ("step", True), ("waiting", True), ("running", False), ("ends", False),
    ),
}  # fmt: skip
ORDER = {
    "points.csv": ("point", "swabbed", "in_line", "tubes_sealed", "tubes_waiting",
                   "in_open_tubes"),
    "vehicles.csv": ("route", "vehicle", "tubes", "lab", "arrives"),
    "labs.csv": ("lab", "step", "waiting", "running", "ends"),
}  # fmt: skip


class _Saved(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    seed: int
    replication: int = Field(ge=0)
    scenario_key: str
    files: dict[str, str]


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scenario: str = Field(min_length=1)
    at: str
    note: str | None = None
    saved: _Saved | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    state: _State


@dataclass(frozen=True)
class StateFolder:
    """A state read from a folder: the state, whether it is exact, what filled it in."""

    state: RoundState
    folder: Path
    at: str  # the clock time, as a planner reads it
    exact: bool
    rules: tuple[str, ...]  # the rules that filled what the counts do not say (observed)
    note: str | None = None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def readable_counts(scenario: Scenario, state: RoundState) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``points.csv``, ``vehicles.csv`` and ``labs.csv`` for ``state``."""
    start = scenario.round.start
    c = state.collection
    sealed_now = ~np.isnan(c.tube_sealed) & (c.tube_sealed < state.time)
    point_of = np.repeat(np.arange(len(scenario.points)), np.diff(c.tube_bounds))
    sealed = np.bincount(point_of[sealed_now], minlength=len(scenario.points))
    # in tubes not sealed yet: open, or full and being changed (what a tally at the point sees)
    in_sealed = np.bincount(
        point_of[sealed_now], weights=c.tube_size[sealed_now], minlength=len(scenario.points)
    ).astype(np.int64)
    in_open = c.started - in_sealed
    waiting = state.tubes_at_points
    points = [
        {
            "point": p.id, "swabbed": int(c.started[i]), "in_line": int(c.arrived[i] - c.started[i]),
            "tubes_sealed": int(sealed[i]), "tubes_waiting": int(waiting[i]),
            "in_open_tubes": int(in_open[i]),
        }
        for i, p in enumerate(scenario.points)
    ]  # fmt: skip
    routes = routes_for(scenario)
    due = {p.seq: p.due for p in state.pending}
    vehicles = []
    for r, rs in enumerate(state.routes):
        route = routes[r]
        for trip in rs.trips:
            tubes = sum(hi - lo for lo, hi, _ in trip.bags)
            heading = trip.position >= len(trip.plan) and trip.paused is None
            lab = scenario.labs[trip.lab].id if trip.lab >= 0 else route.lab
            vehicles.append({
                "route": route.id, "vehicle": _vehicle_name(route.id, trip.vehicle),
                "tubes": tubes, "lab": lab,
                "arrives": format_clock(start + due[trip.event]) if heading else None,
            })  # fmt: skip
    labs = []
    for k, saved in enumerate(state.labs):
        config = scenario.labs[k]
        registry = process_of(config.process)
        sizes_bag = {b.id: b.hi - b.lo for b in state.bags if b.lab == k}
        sizes_plate = {p.id: p.tubes for p in state.plates if p.lab == k}
        for stage in registry.stages:
            step = saved.steps[stage.name]
            size = sizes_bag if stage.unit == "bag" else sizes_plate
            waiting_tubes = sum(size[i] for i in step.queue)
            if stage.forms_plates:
                waiting_tubes += saved.n_waiting
            running = sum(size[i] for _, ids, _, _, _ in step.running.values() for i in ids)
            ends = [due[seq] for seq, _, _, _, _ in step.running.values() if seq in due]
            if waiting_tubes or running:
                labs.append({
                    "lab": config.id, "step": stage.name, "waiting": waiting_tubes,
                    "running": running,
                    "ends": format_clock(start + max(ends)) if ends else None,
                })  # fmt: skip
    return {"points.csv": points, "vehicles.csv": vehicles, "labs.csv": labs}


def _vehicle_name(route: str, place: int) -> str:
    return f"{route}/{place + 1}"


def write_state(folder: str | Path, scenario: Scenario, state: RoundState) -> Path:
    """Write ``state`` of ``scenario`` into ``folder`` (made if need be); the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in readable_counts(scenario, state).items():
        (folder / name).write_text(_table(rows, ORDER[name]), encoding="utf-8")
    write_exact(state, folder)
    at = format_clock(scenario.round.start + state.time)
    head = {
        "state": {
            "scenario": scenario.round.name,
            "at": at,
            "saved": {
                "seed": state.seed,
                "replication": state.replication,
                "scenario_key": scenario_digest(scenario),
                "files": {name: _digest(folder / name) for name in READABLE},
            },
        }
    }
    import yaml

    text = (
        "# A round's state, written by natsim run --until (see docs/nowcast.md).\n"
        "# points.csv, vehicles.csv and labs.csv are the counts; exact.* the rest, to the\n"
        "# second. Edit the counts only after deleting exact.json and exact.npz.\n"
    ) + yaml.safe_dump(head, sort_keys=False, allow_unicode=True)
    (folder / STATE_FILE).write_text(text, encoding="utf-8")
    return folder


def _folder_of(path: Path) -> Path:
    if (path / STATE_FILE).is_file():
        return path
    if (path / "state" / STATE_FILE).is_file():
        return path / "state"
    raise ScenarioError(str(path), None, "", f"no {STATE_FILE} here nor in {path}/state/ (a "
                        "state folder is written by natsim run --until, or by hand: see "
                        "docs/nowcast.md)")  # fmt: skip


def read_state(path: str | Path, scenario: Scenario) -> StateFolder:
    """The state in ``path`` (a state folder, or a run folder holding ``state/``) for
    ``scenario``: exact when natsim wrote it and nothing was edited, otherwise built from
    the counts (every problem named by file, line and column)."""
    folder = _folder_of(Path(path))
    name = str(folder / STATE_FILE)
    data, origins = parse_yaml((folder / STATE_FILE).read_text(encoding="utf-8"), name)
    try:
        head = _File.model_validate(data).state
    except ValidationError as exc:
        raise translate(exc, origins, name, data, _File) from None
    line = (origins.get(("state", "scenario")) or (name, None, None))[1]
    if head.scenario != scenario.round.name:
        raise ScenarioError(name, line, "state.scenario", f"'{head.scenario}' is not this "
                            f"scenario's round ('{scenario.round.name}')")  # fmt: skip
    at_line = (origins.get(("state", "at")) or (name, None, None))[1]
    try:
        at = _round_time(scenario, head.at)
    except ValueError as exc:
        raise ScenarioError(name, at_line, "state.at", str(exc)) from None
    if not 0 < at < scenario.round.horizon:
        raise ScenarioError(
            name,
            at_line,
            "state.at",
            "must fall within the round (after its "
            f"start {format_clock(scenario.round.start)}, before its horizon)",
        )
    exact_files = [(folder / n).exists() for n in (JSON_NAME, ARRAYS_NAME)]
    if any(exact_files) and head.saved is not None:
        for file, digest in head.saved.files.items():
            path_f = folder / file
            if not path_f.is_file() or _digest(path_f) != digest:
                raise ScenarioError(str(path_f), None, "", f"changed since natsim saved this "
                                    f"state: {JSON_NAME} no longer describes it. Delete "
                                    f"{JSON_NAME} and {ARRAYS_NAME} to nowcast from the counts "
                                    "as they are now (docs/nowcast.md says what fills in "
                                    "the rest)")  # fmt: skip
        if scenario_digest(scenario) != head.saved.scenario_key:
            raise ScenarioError(name, None, "state.saved", "saved from another version of the "
                                "scenario: nowcast it with the scenario (and --set) it was saved "
                                f"with, or delete {JSON_NAME} and {ARRAYS_NAME} to start from "
                                "its counts")  # fmt: skip
        state = read_exact(folder)
        return StateFolder(state, folder, format_clock(scenario.round.start + at), True, (),
                           head.note)  # fmt: skip
    observed = read_counts(folder, scenario, at)
    from .observed import RULES

    state = build_state(scenario, observed)
    return StateFolder(state, folder, format_clock(scenario.round.start + at), False, RULES,
                       head.note)  # fmt: skip


def _round_time(scenario: Scenario, text: str) -> float:
    """Seconds from the round's start of a clock time ("10:00", "02:00+1")."""
    t = parse_clock(text) - scenario.round.start
    if t < 0:
        raise ValueError(f"'{text}' is before the round's start "
                         f"({format_clock(scenario.round.start)}); a time on the next day is "
                         "written e.g. 02:00+1")  # fmt: skip
    return t


class _Rows:
    """One CSV file read with its lines, its problems collected (file, line, column)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.file = str(folder / name)
        self.errors: list[ScenarioError] = []
        self.rows: list[tuple[int, dict[str, str]]] = []
        path = folder / name
        if not path.is_file():
            return
        text = path.read_text(encoding="utf-8-sig")
        reader = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [h.strip() for h in row]
                self._check_header(name, header, reader.line_num)
                continue
            line = reader.line_num
            if len(row) != len(header):
                self.fail(line, "", f"{len(row)} cells, the header has {len(header)}")
                continue
            self.rows.append((line, {h: v.strip() for h, v in zip(header, row, strict=True)}))

    def _check_header(self, name: str, header: list[str], line: int) -> None:
        known = [c for c, _ in COLUMNS[name]]
        for column in header:
            if column not in known:
                near = difflib.get_close_matches(column, known, n=1)
                hint = (
                    f" (did you mean '{near[0]}'?)" if near else f" (columns: {', '.join(known)})"
                )
                self.fail(line, column, f"unknown column{hint}")
        for column, required in COLUMNS[name]:
            if required and column not in header:
                self.fail(line, column, "missing column")

    def fail(self, line: int | None, column: str, message: str) -> None:
        self.errors.append(ScenarioError(self.file, line, column, message))

    def count(self, line: int, row: dict[str, str], column: str) -> int | None:
        text = row.get(column, "")
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            self.fail(line, column, f"'{text}' is not a number")
            return None
        if not math.isfinite(value) or value < 0 or value != int(value):
            self.fail(line, column, f"'{text}' is not a count (a whole number, 0 or more)")
            return None
        return int(value)

    def required(self, line: int, row: dict[str, str], column: str) -> int:
        value = self.count(line, row, column)
        if value is None and row.get(column, "") == "":
            self.fail(line, column, "missing")
        return value or 0

    def ident(self, line: int, row: dict[str, str], column: str, known: list[str]) -> int | None:
        text = row.get(column, "")
        if text in known:
            return known.index(text)
        near = difflib.get_close_matches(text, known, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        self.fail(line, column, f"'{text}' is not a {column} of the scenario{hint}")
        return None

    def clock(self, line: int, row: dict[str, str], column: str, scenario: Scenario,
              at: float) -> float | None:  # fmt: skip
        text = row.get(column, "")
        if text == "":
            return None
        try:
            t = _round_time(scenario, text)
        except ValueError as exc:
            self.fail(line, column, str(exc))
            return None
        if t <= at:
            self.fail(line, column, f"'{text}' is not after the state's time")
            return None
        return t


def read_counts(folder: Path, scenario: Scenario, at: float) -> Observed:
    """The counts of a state folder, checked against ``scenario``: :class:`ScenarioError`
    (or several, :class:`ScenarioErrors`) naming file, line and column."""
    errors: list[ScenarioError] = []
    point_ids = [p.id for p in scenario.points]
    points_file = _Rows(folder, "points.csv")
    if not (folder / "points.csv").is_file():
        raise ScenarioError(points_file.file, None, "", "missing: a row per point is needed")
    counts: dict[int, PointCount] = {}
    for line, row in points_file.rows:
        i = points_file.ident(line, row, "point", point_ids)
        values = {c: points_file.required(line, row, c) for c in ("swabbed", "in_line",
                                                                   "tubes_waiting")}  # fmt: skip
        optional = {c: points_file.count(line, row, c) for c in ("tubes_sealed", "in_open_tubes")}
        if i is None:
            continue
        if i in counts:
            points_file.fail(line, "point", f"'{point_ids[i]}' has a row already (line "
                             f"{counts[i].where[1]})")  # fmt: skip
            continue
        counts[i] = PointCount(
            i, values["swabbed"], values["in_line"], values["tubes_waiting"],
            optional["tubes_sealed"], optional["in_open_tubes"], (points_file.file, line),
        )  # fmt: skip
    missing = [point_ids[i] for i in range(len(point_ids)) if i not in counts]
    if missing and not points_file.errors:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        points_file.fail(None, "point", f"no row for {shown}: give every point (0s for one "
                         "that has not opened)")  # fmt: skip
    errors += points_file.errors
    routes = routes_for(scenario)
    route_ids = [r.id for r in routes]
    lab_ids = [lab.id for lab in scenario.labs]
    vehicles_file = _Rows(folder, "vehicles.csv")
    vehicles = []
    seen_vehicle: dict[tuple[int, int], int] = {}
    for line, row in vehicles_file.rows:
        r = vehicles_file.ident(line, row, "route", route_ids)
        tubes = vehicles_file.required(line, row, "tubes")
        lab = routes[r].lab if r is not None else None
        k = vehicles_file.ident(line, row, "lab", lab_ids) if row.get("lab") else (
            lab_ids.index(lab) if lab is not None else None)  # fmt: skip
        arrives = vehicles_file.clock(line, row, "arrives", scenario, at)
        if row.get("arrives", "") == "":
            vehicles_file.fail(line, "arrives", "missing: when it will reach its lab (natsim "
                               "leaves it blank for a vehicle still visiting points)")  # fmt: skip
        place = None
        if row.get("vehicle") and r is not None:
            names = [_vehicle_name(routes[r].id, v) for v in range(routes[r].vehicles)]
            place = vehicles_file.ident(line, row, "vehicle", names)
            if place is not None and (r, place) in seen_vehicle:
                vehicles_file.fail(line, "vehicle", f"on line {seen_vehicle[(r, place)]} already")
                place = None
            elif place is not None:
                seen_vehicle[(r, place)] = line
        if r is None or k is None or arrives is None:
            continue
        vehicles.append(VehicleCount(r, tubes, k, arrives, place, (vehicles_file.file, line)))
    errors += vehicles_file.errors
    labs_file = _Rows(folder, "labs.csv")
    steps = []
    seen_step: dict[tuple[int, str], int] = {}
    for line, row in labs_file.rows:
        k = labs_file.ident(line, row, "lab", lab_ids)
        waiting = labs_file.required(line, row, "waiting")
        running = labs_file.count(line, row, "running") or 0
        ends = labs_file.clock(line, row, "ends", scenario, at)
        if k is None:
            continue
        names = [s.name for s in process_of(scenario.labs[k].process).stages]
        s = labs_file.ident(line, row, "step", names)
        if s is None:
            continue
        if (k, names[s]) in seen_step:
            labs_file.fail(line, "step", f"on line {seen_step[(k, names[s])]} already")
            continue
        seen_step[(k, names[s])] = line
        if row.get("ends") and not running:
            labs_file.fail(line, "ends", "given, but nothing is running")
        steps.append(StepCount(k, names[s], waiting, running, ends, (labs_file.file, line)))
    errors += labs_file.errors
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise ScenarioErrors(errors[:MAX_ERRORS], max(0, len(errors) - MAX_ERRORS))
    return Observed(
        at, tuple(counts[i] for i in sorted(counts)), tuple(vehicles), tuple(steps),
        (str(folder / STATE_FILE), None),
    )  # fmt: skip
