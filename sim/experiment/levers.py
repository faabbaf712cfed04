"""What one more (and one fewer) unit of each resource does to the round.

A planner's question after "will it finish in time?" is "what is the cheapest
change that helps?". :func:`levers` answers it the direct way: for every
resource class the scenario has, it runs the same replications (common random
numbers) with one step more and one step fewer, and reports the paired
difference in completion time and in P(met) at every target, with intervals.

The resource classes (:func:`find_levers`):

* **sampling stations**, all points together: the step goes to the points with
  the most expected residents a station (and is taken from those with the
  fewest, keeping one station a point);
* **vehicles**, all routes together: to the routes with the most expected tubes
  a vehicle (taken from routes with more than one vehicle);
* **each lab stage's servers at each lab** (receiving staff, PCR instruments
  ...), one lever per stage and lab, named by the stage registry;
* **each lab's opening**, for a lab that opens after the round starts: an hour
  earlier, or later.

A step is one unit or 10 % of the class's units, whichever is larger (46 PCR
instruments: 5; 824 stations: 83). Replication r of every variant draws from
the same streams as replication r of the scenario, so a variant's difference is
the change's, not the day's. Variants that change only vehicles or labs run on
the scenario's own collection of that replication (:class:`~sim.model.world.Sampled`):
it is the same by construction, and computing it again would be half the cost.

The differences are paired: for replication r, variant minus scenario. A
replication that did not finish by the horizon counts as finishing at the
horizon (the difference is then a bound; ``censored`` counts them). With one
replication there is no interval: the difference is that day's.
"""

from __future__ import annotations

import heapq
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..model.capacity import expected_residents, expected_tubes
from ..model.geo import routes_for
from ..model.state import RoundState
from ..model.world import Round, Sampled
from ..results.result import outcome_only
from ..scenario import Scenario, load_scenario
from ..stages import stage
from ..stats import LEVEL, mean_interval
from ..units import format_minute
from .executors import Executor, make_executor
from .variants import variant

H = 3600.0
STEP_SHARE = 0.10  # a step is one unit or this share of the class, whichever is larger
OPENING_STEP_H = 1.0  # a lab's opening moves by this many hours
#: a lever "buys time" when it saves at least this much (hours) on average
MEANINGFUL_H = 0.05


@dataclass(frozen=True)
class Lever:
    """One resource class and the changes that give it a step more and a step fewer."""

    name: str  # unique: "stations", "vehicles", "labs.<id>.<stage>.<servers>", "labs.<id>.opens"
    label: str  # "PCR instruments at henan-mobile-1"
    resource: str  # what a bottleneck line calls it: "sampling", "transport", a stage, "opening"
    where: str | None  # the lab, for a lab's lever
    unit: str  # "stations", "vehicles", "staff", "instruments", "h"
    base: float  # the class's units now (for an opening: its clock time, hours from midnight)
    step: float  # units in one step (hours, for an opening)
    more: Mapping[str, Any]  # the changes for one step more (earlier, for an opening)
    fewer: Mapping[str, Any] | None  # and one step fewer (None: there is no fewer)
    sampling: bool = False  # whether it changes the sampling side (collection is redone)
    note: str = ""  # how the step is placed, or why there is no step fewer

    @property
    def cost_keys(self) -> tuple[str, ...]:
        """The names ``--cost`` may give this lever's unit by: its name, then its class
        (``pcr.instruments`` for every lab's PCR instruments, ``opens`` for every opening)."""
        if self.unit == "h":
            return (self.name, "opens")
        if self.where is not None:
            _, stage, servers = self.name.rsplit(".", 2)
            return (self.name, f"{stage}.{servers}")
        return (self.name,)


def step_of(units: float) -> int:
    """One unit or 10 % of ``units``, whichever is larger."""
    return max(1, math.ceil(STEP_SHARE * units - 1e-9))


def find_levers(scenario: Scenario) -> list[Lever]:
    """Every resource class of ``scenario`` with its step more and step fewer."""
    return [
        _stations(scenario),
        _vehicles(scenario),
        *(lever for lab in scenario.labs for lever in _lab_levers(scenario, lab.id)),
        *_openings(scenario),
    ]


def _point_key(scenario: Scenario, i: int) -> str:
    """How a change path names point ``i``: its id, or its position if the id has a dot."""
    pid = scenario.points[i].id
    return str(i) if "." in pid else pid


def _lab_key(scenario: Scenario, lab_id: str) -> str:
    """How a change path names a lab: its id, or its position if the id has a dot."""
    if "." not in lab_id:
        return lab_id
    return str([lab.id for lab in scenario.labs].index(lab_id))


def _spread(load: np.ndarray, units: np.ndarray, step: int, add: bool) -> np.ndarray:
    """``units`` with ``step`` more (to the highest load a unit) or fewer (from the lowest
    load a unit after the removal, keeping one each); ties go to the first."""
    out = units.copy()
    if add:
        heap = [(-load[i] / out[i], i) for i in range(len(out))]
        heapq.heapify(heap)
        for _ in range(step):
            _, i = heapq.heappop(heap)
            out[i] += 1
            heapq.heappush(heap, (-load[i] / out[i], i))
        return out
    heap = [(load[i] / (out[i] - 1), i) for i in range(len(out)) if out[i] > 1]
    heapq.heapify(heap)
    for _ in range(step):
        if not heap:
            break
        _, i = heapq.heappop(heap)
        out[i] -= 1
        if out[i] > 1:
            heapq.heappush(heap, (load[i] / (out[i] - 1), i))
    return out


def _stations(scenario: Scenario) -> Lever:
    units = np.array([p.stations for p in scenario.points], dtype=np.int64)
    load = expected_residents(scenario)
    total = int(units.sum())
    step = step_of(total)

    def changes(new: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i in np.flatnonzero(new != units):
            point = scenario.points[int(i)]
            key = f"points.{_point_key(scenario, int(i))}"
            if point.shifts:  # a roster: as many more (fewer) on duty in every shift
                by = int(new[i] - units[i])
                shifts = [s.model_dump(mode="json", by_alias=True) for s in point.shifts]
                out[f"{key}.shifts"] = [
                    {**s, "stations": max(1, s["stations"] + by)} for s in shifts
                ]
            else:
                out[f"{key}.stations"] = int(new[i])
        return out

    more = changes(_spread(load, units, step, add=True))
    fewer_units = _spread(load, units, step, add=False)
    fewer = changes(fewer_units) if int(units.sum() - fewer_units.sum()) == step else None
    return Lever(
        "stations", "sampling stations", "sampling", None, "stations", total, step, more, fewer,
        sampling=True,
        note="to the points with the most residents a station (from those with the fewest)"
        if fewer is not None else "every point has one station: there is no step fewer",
    )  # fmt: skip


def _vehicles(scenario: Scenario) -> Lever:
    routes = routes_for(scenario)
    tubes = expected_tubes(scenario)
    index = {p.id: i for i, p in enumerate(scenario.points)}
    load = np.array([sum(tubes[index[pid]] for pid in r.points) for r in routes], dtype=float)
    units = np.array([r.vehicles for r in routes], dtype=np.int64)
    total = int(units.sum())
    step = step_of(total)

    def changes(new: np.ndarray) -> dict[str, Any]:
        listed = [
            {"id": r.id, "points": list(r.points), "lab": r.lab, "vehicles": int(new[k])}
            for k, r in enumerate(routes)
        ]
        return {"transport.routes": listed}

    more = changes(_spread(load, units, step, add=True))
    fewer_units = _spread(load, units, step, add=False)
    enough = int(units.sum() - fewer_units.sum()) == step
    return Lever(
        "vehicles", "vehicles", "transport", None, "vehicles", total, step, more,
        changes(fewer_units) if enough else None,
        note="to the routes with the most tubes a vehicle (from those with the fewest)"
        if enough else "every route has one vehicle: there is no step fewer"
        if total == len(routes) else "too few routes have a second vehicle for a step fewer",
    )  # fmt: skip


def _lab_levers(scenario: Scenario, lab_id: str) -> list[Lever]:
    """One lever a pool of the lab (a default lab's pools are its stages: ``pcr.instruments``;
    a lab with its own steps: ``pools.<name>.staff``)."""
    lab = scenario.lab(lab_id)
    process = lab.process
    key = _lab_key(scenario, lab_id)
    out = []
    for name, pool in process.pools.items():
        servers = pool.kind
        units = pool.units
        step = step_of(units)
        least = max(st.needs.get(name, 0) for st in process.steps)  # a run's units, at least 1
        section = stage(name).section(lab) if process.default else pool
        path = f"labs.{key}.{name if process.default else f'pools.{name}'}.{servers}"
        more: dict[str, Any] = {path: units + step}
        fewer: dict[str, Any] | None = {path: units - step} if units - step >= least else None
        note = "" if fewer is not None else f"{units} {servers}: there is no step fewer"
        if section.shifts:  # a step more or fewer on duty in every shift
            more, fewer = _roster_step(path, section, servers, step)
            note = "in every shift" + ("" if fewer is not None else ": there is no step fewer")
        what = stage(name).resource if process.default else name.replace("_", " ")
        lever = Lever(
            path, f"{what} {servers} at {lab_id}", name, lab_id, servers,
            units, step, more, fewer, note=note,
        )  # fmt: skip
        out.append(lever)
    return out


def _roster_step(
    path: str, section: Any, servers: str, step: int
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The stage's section with ``step`` more (and fewer) on duty in every shift; the
    stage's servers follow from the shifts, so the whole section is changed."""
    body = section.model_dump(mode="json", by_alias=True, exclude={servers})
    where = path.rsplit(".", 1)[0]

    def shifted(by: int) -> dict[str, Any]:
        shifts = [{**shift, servers: shift[servers] + by} for shift in body["shifts"]]
        return {where: {**body, "shifts": shifts}}

    fewer_ok = all(shift[servers] - step >= 1 for shift in body["shifts"])
    return shifted(step), shifted(-step) if fewer_ok else None


def _openings(scenario: Scenario) -> list[Lever]:
    start = scenario.round.start
    horizon = start + scenario.round.horizon
    out = []
    for lab in scenario.labs:
        if lab.opens is None or lab.opens <= start:
            continue
        path = f"labs.{_lab_key(scenario, lab.id)}.opens"
        earlier = max(start, lab.opens - OPENING_STEP_H * H)
        later = lab.opens + OPENING_STEP_H * H
        lever = Lever(
            path, f"opening of {lab.id}", "opening", lab.id, "h", lab.opens / H,
            (lab.opens - earlier) / H, {path: format_minute(earlier)},
            {path: format_minute(later)} if later < horizon else None,
            note=f"opens {format_minute(lab.opens)}: a step is {OPENING_STEP_H:g} h earlier",
        )  # fmt: skip
        out.append(lever)
    return out


# -- running ------------------------------------------------------------------------------


def estimate_seconds(result: Any, found: Sequence[Lever], reps: int, workers: int) -> float:
    """About how long measuring ``found`` takes, from the wall times of ``result``'s first
    replication: a variant that changes sampling costs a whole replication, any other one
    the replication less its collection (see :class:`~sim.model.world.Sampled`)."""
    wall = result.parts[0].wall
    whole = sum(float(wall.get(k, 0.0)) for k in ("collect_s", "build_s", "transport_lab_s"))
    shared = whole - float(wall.get("collect_s", 0.0))
    steps = [(lever, c) for lever in found for c in (lever.more, lever.fewer) if c is not None]
    per_rep = whole + sum(whole if lever.sampling else shared for lever, _ in steps)
    start = 1.0 if workers > 1 else 0.0  # starting worker processes
    return start + 1.3 * reps * per_rep / max(1, workers)  # 1.3: building the variants, tables


#: a unit of work: (variant, replication, the variant whose collection it may share or -1)
Item = tuple[int, int, int]
#: per worker process: the last collections, by (measurement, variant, replication); the
#: measurement's token keeps one call's collections from serving another (another seed)
_SAMPLED: dict[tuple[str, int, int], Sampled] = {}


def _outcome(
    context: tuple[tuple[Scenario, ...], int, str, tuple[RoundState, ...] | None], item: Item
) -> dict[str, Any]:
    """The outcome of one replication of one variant (the worker-side function; pure)."""
    scenarios, seed, token, states = context
    v, r, shares = item
    if states is not None:  # from a state on (a nowcast): each variant from its own
        run = Round(scenarios[v], r, seed=seed, state=states[v], allow_redraw=True)
        run.run()
        return outcome_only(run.records())
    key = (token, shares, r) if shares >= 0 else None
    sampled = _SAMPLED.get(key) if key is not None else None
    run = Round(scenarios[v], r, seed=seed, sampled=sampled)
    if key is not None and sampled is None:
        if len(_SAMPLED) >= 4:  # a few replications' collections; the items come in order
            _SAMPLED.pop(next(iter(_SAMPLED)))
        _SAMPLED[key] = run.sampled
    run.run()
    return outcome_only(run.records())


@dataclass
class Levers:
    """The measured levers: ``table`` has a row per lever and direction."""

    scenario: Scenario
    seed: int
    reps: int
    levers: list[Lever]
    base: pd.DataFrame  # the scenario's outcome per replication
    outcomes: dict[tuple[str, str], pd.DataFrame]  # (lever, "more"|"fewer") -> per replication
    costs: dict[str, float] | None = None

    def __post_init__(self) -> None:
        self.table = self._table()

    @property
    def target_labels(self) -> list[str]:
        return [f"{t / H:g}h" for t in self.scenario.round.targets]

    def _cost(self, lever: Lever) -> float | None:
        if not self.costs:
            return None
        for key in lever.cost_keys:
            if key in self.costs:
                return self.costs[key]
        return None

    def _table(self) -> pd.DataFrame:
        horizon = self.scenario.round.horizon / H
        base = self.base["completion_h"].to_numpy(dtype=float)
        base_filled = np.where(np.isnan(base), horizon, base)
        rows = []
        for lever in self.levers:
            for direction in ("more", "fewer"):
                changes = lever.more if direction == "more" else lever.fewer
                if changes is None:
                    continue
                frame = self.outcomes[(lever.name, direction)]
                done = frame["completion_h"].to_numpy(dtype=float)
                filled = np.where(np.isnan(done), horizon, done)
                diff = filled - base_filled
                mean, _, low, high = mean_interval(diff, LEVEL)
                sign = 1 if direction == "more" else -1
                if lever.unit == "h":
                    change = f"{'-' if direction == 'more' else '+'}{lever.step:g} h"
                    when = "earlier" if direction == "more" else "later"
                    action = f"{lever.where} opening {lever.step:g} h {when}"
                    to = changes[lever.name]
                    now = format_minute(lever.base * H)
                else:
                    change = f"{sign * lever.step:+g} {lever.unit}"
                    action = f"{sign * lever.step:+g} {lever.label}"
                    now, to = f"{lever.base:g}", f"{lever.base + sign * lever.step:g}"
                row: dict[str, Any] = {
                    "lever": lever.name,
                    "label": lever.label,
                    "resource": lever.resource,
                    "where": lever.where,
                    "direction": direction,
                    "change": change,
                    "action": action,
                    "step": lever.step,
                    "unit": lever.unit,
                    "now": now,
                    "to": to,
                    "replications": len(diff),
                    "censored": int((np.isnan(done) | np.isnan(base)).sum()),
                    "completion_h": float(np.mean(filled)),
                    "completion_h_delta": float(mean),
                    "completion_h_delta_low": np.nan if low is None else low,
                    "completion_h_delta_high": np.nan if high is None else high,
                }
                for label in self.target_labels:
                    met = frame[f"met_{label}"].to_numpy(dtype=float)
                    d = met - self.base[f"met_{label}"].to_numpy(dtype=float)
                    m, _, lo, hi = mean_interval(d, LEVEL)
                    row[f"p_met_{label}"] = float(met.mean())
                    row[f"p_met_{label}_delta"] = float(m)
                    row[f"p_met_{label}_delta_low"] = np.nan if lo is None else lo
                    row[f"p_met_{label}_delta_high"] = np.nan if hi is None else hi
                cost = self._cost(lever)  # a step costs its units (hours earlier) at the unit cost
                row["cost"] = np.nan if cost is None else cost * lever.step
                row["saves_h_per_cost"] = (
                    np.nan if cost is None else -float(mean) / (cost * lever.step)
                )
                row["note"] = lever.note
                rows.append(row)
        table = pd.DataFrame(rows)
        if table.empty:
            return table
        order = np.lexsort(
            (table["completion_h_delta"].to_numpy(), (table["direction"] != "more").to_numpy())
        )
        return table.iloc[order].reset_index(drop=True)

    def top(self, n: int = 3) -> pd.DataFrame:
        """The ``n`` steps more that save the most time (most per cost, when costed), of
        those that save at least :data:`MEANINGFUL_H`."""
        table = self.table
        more = table[
            (table["direction"] == "more") & (-table["completion_h_delta"] >= MEANINGFUL_H)
        ]
        if self.costs and more["saves_h_per_cost"].notna().any():
            return more.sort_values("saves_h_per_cost", ascending=False).head(n)
        return more.head(n)

    def limiting(self) -> dict[str, Any] | None:
        """The resource whose next step buys the most time, if one does: a mean saving of
        at least :data:`MEANINGFUL_H` whose interval (when there is one) lies below zero.

        Only resources count (stations, vehicles, staff, instruments): an earlier
        opening is a change of schedule, listed among the levers but not a bottleneck.
        """
        more = self.table[(self.table["direction"] == "more") & (self.table["unit"] != "h")]
        if more.empty:
            return None
        best = more.iloc[0]
        saving = -float(best["completion_h_delta"])
        high = best["completion_h_delta_high"]
        if saving < MEANINGFUL_H or (not np.isnan(high) and high >= 0):
            return None
        return _record(best)

    def unjudged(self) -> str | None:
        """Why no bottleneck can be named from the last result, when it cannot: every step
        more ended at the horizon in every replication, so their differences say nothing."""
        more = self.table[self.table["direction"] == "more"] if len(self.table) else self.table
        if len(more) and (more["censored"] == more["replications"]).all():
            return (
                "every run ended at the horizon with results still to come, with or without a "
                "step more, so the last result cannot judge them (lengthen round.horizon)"
            )
        return None

    def records(self) -> list[dict[str, Any]]:
        """The table as JSON-ready rows (what ``summary.json["levers"]`` holds)."""
        return [_record(row) for _, row in self.table.iterrows()]

    def summary(self) -> dict[str, Any]:
        """Everything about the levers ``summary.json`` keeps."""
        return {
            "measured": True,
            "replications": self.reps,
            "seed": self.seed,
            "interval_level": LEVEL,
            "step": f"one unit or {STEP_SHARE:.0%} of the class, whichever is larger",
            "meaningful_h": MEANINGFUL_H,
            "limiting": self.limiting(),
            "unjudged": self.unjudged(),
            "top": [_record(row) for _, row in self.top(3).iterrows()],
            "rows": self.records(),
        }


def _record(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, float | np.floating):
            out[str(key)] = None if np.isnan(value) else float(value)
        elif isinstance(value, np.integer):
            out[str(key)] = int(value)
        else:
            out[str(key)] = value
    return out


def from_now(found: Sequence[Lever]) -> list[Lever]:
    """The levers a round under way can still pull: a step more of each lab pool (not on a
    shift roster, whose calendar the state already holds)."""
    return [
        replace(lever, fewer=None, note="from the state's time on")
        for lever in found
        if lever.where is not None and lever.unit != "h" and not lever.note.startswith("in every")
    ]


def variants_of(scenario: Scenario, levers: Sequence[Lever]) -> list[tuple[str, str, Scenario]]:
    """(lever, direction, scenario) for every step the levers have."""
    out = []
    for lever in levers:
        for direction, changes in (("more", lever.more), ("fewer", lever.fewer)):
            if changes is not None:
                out.append((lever.name, direction, variant(scenario, changes, "levers")))
    return out


def levers(
    scenario: Scenario | str | Path,
    reps: int = 1,
    *,
    seed: int | None = None,
    only: Sequence[str] | None = None,
    costs: Mapping[str, float] | None = None,
    workers: int | None = None,
    dask: str | None = None,
    executor: Executor | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    state_for: Callable[[Scenario], RoundState] | None = None,
) -> Levers:
    """Measure every lever of ``scenario`` (or those named in ``only``) over replications
    0 .. reps-1 of ``seed``; ``costs`` gives a cost per unit by lever name or class
    (``pcr.instruments``, ``stations``, ``vehicles``, ``opens``: per hour earlier).

    With ``state_for`` (a nowcast) every variant carries on from the state it gives for
    that variant's scenario: only what can still be added from then on is a lever there,
    a step more of each lab pool not on a shift roster (stations, vehicles and openings
    are not, nor a step fewer: :func:`from_now`)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    seed = scenario.round.seed if seed is None else int(seed)
    found = find_levers(scenario)
    if state_for is not None:
        found = from_now(found)
    if only is not None:
        names = {lever.name for lever in found}
        unknown = [name for name in only if name not in names]
        if unknown:
            raise ValueError(f"no lever {unknown[0]} (levers: {', '.join(sorted(names))})")
        found = [lever for lever in found if lever.name in only]
    steps = variants_of(scenario, found)
    sampling = {lever.name: lever.sampling for lever in found}
    scenarios = (scenario, *(s for _, _, s in steps))
    items: list[Item] = [
        (v, r, -1 if v and sampling[steps[v - 1][0]] else 0)
        for r in range(reps)
        for v in range(len(scenarios))
    ]
    own = executor is None
    executor = executor if executor is not None else make_executor(workers, dask)
    results: dict[tuple[int, int], dict[str, Any]] = {}
    try:
        if progress:
            progress(0, len(items), "lever variants x replications")
        states = tuple(state_for(s) for s in scenarios) if state_for is not None else None
        context = (scenarios, seed, uuid.uuid4().hex, states)
        for (v, r, _), row in executor.map(_outcome, context, items):
            results[(v, r)] = row
            if progress:
                progress(len(results), len(items), "lever variants x replications")
    finally:
        if own:
            executor.close()

    def frame(v: int) -> pd.DataFrame:
        return pd.DataFrame([results[(v, r)] for r in range(reps)])

    outcomes = {(name, direction): frame(k + 1) for k, (name, direction, _) in enumerate(steps)}
    return Levers(scenario, seed, reps, found, frame(0), outcomes, dict(costs) if costs else None)
