"""Pitfalls a scenario can hold that validation lets through: found before the round is run.

Each check reads the scenario (and the routes and capacities natsim would use)
and says what it found with the figures, in a :class:`Finding`. ``natsim
validate`` and ``natsim run`` print them before anything else; ``summary.json``
keeps them under ``warnings``. The checks:

* ``labs-same-place`` — labs at one location: the nearest-lab rule sends every
  point to the first of them;
* ``lab-opens-late`` — a lab opening at or after the horizon (it tests
  nothing), or after the last target (it cannot help meet it);
* ``lab-load-uneven`` — under the routes as they are, one lab has more than
  twice the hours of work per unit of capacity of another (expected tubes over
  its rate, :mod:`sim.model.capacity`);
* ``demand-over-capacity`` — the round's expected tubes exceed what the labs
  can test, at their full rate from opening, before a target;
* ``sampling-slow`` — points whose stations, at their mean pace less relief
  breaks, need more than their window (by over 10 %) to swab their residents:
  lines outlast the window (and, named, the points that cannot finish swabbing
  before a target);
* ``arrivals-before-opening`` — residents who come before their point opens
  (they wait in line for the opening);
* ``door-teams-short`` — the door-to-door teams' time at the doors alone
  (households x (``3600 / households_per_hour`` + ``between``) over the teams,
  drives left out) ends after the first target;
* ``lab-below-published`` — a lab given as ``tubes_per_day`` whose stages, as
  given or derived, test fewer (a stage given with too few staff or
  instruments), or whose one pass through every stage is longer than its
  published ``turnaround``;
* ``batch-strands-plates`` — a lab step that starts only with several items
  (``batch.min``) and has no ``batch.wait``: the last items of the round wait
  for company that never comes, to the horizon;
* ``settings`` — what loading and ``--set`` noticed (a default that the points'
  own settings override, a change that did not reach every point:
  :attr:`Scenario.notes`).

Arrivals after a point closes are not a warning but a validation error.
After a run, :func:`horizon_cut` adds ``horizon-cut`` when the horizon ended
the round with results still to come.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .model.calendars import point_windows
from .model.capacity import capacities, capacity_table, expected_residents, expected_tubes
from .model.geo import routes_for
from .model.homebound import homebound
from .scenario.schema import Route, Scenario
from .units import format_minute

H = 3600.0
UNEVEN = 2.0  # a lab with this many times another's hours of work is flagged
SLOW = 1.1  # a point needing this many times its window to swab its residents is flagged


class Finding(NamedTuple):
    """One pitfall: a short code, and a sentence with the figures."""

    code: str
    message: str


def check(scenario: Scenario, routes: Sequence[Route] | None = None) -> list[Finding]:
    """Every pitfall found in ``scenario``, most serious first (``routes``: the routes the
    round uses, when the caller has them; otherwise they are built)."""
    return [
        *_over_capacity(scenario),
        *_sampling_slow(scenario),
        *_opens_late(scenario),
        *_same_place(scenario),
        *_uneven_load(scenario, routes),
        *_arrive_early(scenario),
        *_door_short(scenario),
        *_below_published(scenario),
        *_strict_batches(scenario),
        *(Finding("settings", note) for note in scenario.notes),
    ]


def horizon_cut(scenario: Scenario, unfinished: Sequence[dict[str, Any]]) -> list[Finding]:
    """``horizon-cut``: replications whose horizon came before every result was out
    (``unfinished``: each replication's ``summary["unfinished"]``)."""
    cut = [u for u in unfinished if u.get("residents", 0) > 0]
    if not cut:
        return []
    horizon = scenario.round.start + scenario.round.horizon
    worst = max(cut, key=lambda u: u["residents"])
    reps = "" if len(unfinished) == 1 else f" in {len(cut)} of {len(unfinished)} replications"
    not_swabbed = worst.get("residents_not_swabbed", 0)
    return [
        Finding(
            "horizon-cut",
            f"the horizon ({format_minute(horizon)}, round.horizon "
            f"{scenario.round.horizon / H:g} h) ended the round before every result was out"
            f"{reps}: {worst['residents']:,} residents in {worst['tubes']:,} tubes unreported"
            + (f", {not_swabbed:,} of them not yet swabbed" if not_swabbed else "")
            + "; the completion time is unknown (lengthen round.horizon to see it)",
        )
    ]


def _over_capacity(scenario: Scenario) -> list[Finding]:
    """Expected tubes against the most the labs can test by each target."""
    tubes = float(expected_tubes(scenario).sum())
    rates = np.array([c.tubes_per_hour for c in capacities(scenario)])
    start = scenario.round.start
    opens = np.array([start if lab.opens is None else lab.opens for lab in scenario.labs])
    per_day = float(rates.sum()) * 24
    for hours in sorted(scenario.round.targets):
        end = start + hours
        most = float((rates * np.clip(end - opens, 0.0, None) / H).sum())
        if tubes > most:
            return [
                Finding(
                    "demand-over-capacity",
                    f"about {tubes:,.0f} tubes are expected, but the labs can test at most "
                    f"{most:,.0f} before the {hours / H:g} h target ({format_minute(end)}): "
                    f"{rates.sum():,.0f} tubes/h together ({per_day:,.0f} tubes a day) at "
                    "full speed from opening, whatever the routes; add lab capacity or "
                    "open labs earlier",
                )
            ]
    return []


def _sampling_slow(scenario: Scenario) -> list[Finding]:
    """Points whose stations cannot swab their residents within the window at full pace."""
    residents = expected_residents(scenario)
    need = np.empty(len(scenario.points))
    window = np.empty(len(scenario.points))
    opens = np.empty(len(scenario.points))
    for i, p in enumerate(scenario.points):
        pace = float(p.service.mean) + float(p.tube_change.mean) / p.pool  # s a resident
        working = 1.0 - (p.relief.for_ / p.relief.every if p.relief else 0.0)
        need[i] = residents[i] * pace / (p.stations * working)
        times = point_windows(scenario, p)  # open time only: not the nights between windows
        window[i], opens[i] = sum(b - a for a, b in times), times[0][0]
    slow = need > SLOW * window
    if not slow.any():
        return []
    worst = int(np.argmax(need / window))
    p = scenario.points[worst]
    done = opens + need
    first_target = scenario.round.start + min(
        scenario.round.targets, default=scenario.round.horizon
    )
    late = int((done > first_target).sum())
    message = (
        f"sampling is short of stations at {int(slow.sum()):,} of {len(need):,} points: they need "
        f"more than their window to swab their residents at the stations' mean pace "
        f"(worst {p.id}: {need[worst] / H:,.1f} h of swabbing for a {window[worst] / H:g} h "
        f"window, {residents[worst]:,.0f} residents at {p.stations} stations), so lines outlast "
        "the window"
    )
    if late:
        message += (
            f"; {late:,} cannot finish swabbing before the first target "
            f"({format_minute(first_target)})"
        )
    return [Finding("sampling-slow", message + " (add stations or lengthen the window)")]


def _below_published(scenario: Scenario) -> list[Finding]:
    """Labs described as published whose stages cannot do what was published."""
    out = []
    for row in capacity_table(scenario):
        published = row.published_tubes_per_day
        if published is not None and row.tubes_per_day < published:
            out.append(
                Finding(
                    "lab-below-published",
                    f"lab {row.lab} is published at {published:,} tubes a day but its stages "
                    f"test {row.tubes_per_day:,} ({row.bottleneck} is short: give it more "
                    "staff or instruments, or leave them out to have them derived)",
                )
            )
        turnaround = row.published_turnaround_h
        if turnaround is not None and row.pass_h > turnaround:
            out.append(
                Finding(
                    "lab-below-published",
                    f"lab {row.lab}: one pass through its stages takes {row.pass_h:.1f} h, "
                    f"longer than its published turnaround of {turnaround:g} h (shorter run "
                    "times, or a longer turnaround)",
                )
            )
    return out


def _strict_batches(scenario: Scenario) -> list[Finding]:
    """Lab steps that never start a short batch: the round's last items are stranded."""
    out = []
    for lab in scenario.labs:
        for step in lab.process.steps:
            batch = step.batch
            if batch.min > 1 and batch.wait is None:
                items = "bags" if step.works_on == "bag" else "plates"
                out.append(
                    Finding(
                        "batch-strands-plates",
                        f"lab {lab.id} step {step.name} starts only with {batch.min} {items} "
                        f"and has no batch.wait: the last {items} of the round (up to "
                        f"{batch.min - 1}) wait for more that never come (give batch.wait)",
                    )
                )
    return out


def _door_short(scenario: Scenario) -> list[Finding]:
    """Door-to-door teams that cannot visit their households before the first target."""
    door = scenario.door_to_door
    if door is None:
        return []
    households = int(np.ceil(homebound(scenario) / door.household_size).sum())
    teams = sum(base.teams for base in door.teams)
    per_household = H / door.households_per_hour + float(door.between.mean)
    hours = households * per_household / teams / H
    start = door.start if door.start is not None else scenario.round.start
    first_target = scenario.round.start + min(
        scenario.round.targets, default=scenario.round.horizon
    )
    if start + hours * H <= first_target:
        return []
    return [
        Finding(
            "door-teams-short",
            f"door-to-door teams are short: {households:,} households at "
            f"{per_household / 60:.0f} min each (at the door and between doors, drives left out) "
            f"take {teams:,} teams at least {hours:.1f} h, from {format_minute(start)} past the "
            f"first target ({format_minute(first_target)}) (add teams or visit fewer households)",
        )
    ]


def _arrive_early(scenario: Scenario) -> list[Finding]:
    """Zones whose residents start to come before their point opens."""
    zones = scenario.demand.zones
    if not len(zones):
        return []
    default = scenario.demand.arrivals.span
    opens = np.array([(p.window or default).open for p in scenario.points])
    index = pd.Index([p.id for p in scenario.points]).get_indexer(zones.point)
    arrive_from = np.where(np.isnan(zones.open), default.open, zones.open)
    early = arrive_from < opens[index]
    if not early.any():
        return []
    row = int(np.argmax(opens[index] - arrive_from))
    point = scenario.points[int(index[row])]
    return [
        Finding(
            "arrivals-before-opening",
            f"residents of {int(early.sum()):,} zones come before their point opens (e.g. zone "
            f"{zones.id[row]} from {format_minute(float(arrive_from[row]))}, point {point.id} "
            f"opens {format_minute(float(opens[index[row]]))}): they wait in line for the opening",
        )
    ]


def _moves_by_work(scenario: Scenario) -> bool:
    """Whether vehicles choose their lab by the labs' work (so the routes' labs are a start)."""
    dispatch = scenario.transport.dispatch
    return dispatch.rule == "earliest_finish" or dispatch.overflow_after is not None


def _opens_late(scenario: Scenario) -> list[Finding]:
    start = scenario.round.start
    horizon = start + scenario.round.horizon
    last_target = start + max(scenario.round.targets, default=scenario.round.horizon)
    out = []
    for lab in scenario.labs:
        if lab.opens is None:
            continue
        if lab.opens >= horizon:
            out.append(
                Finding(
                    "lab-opens-late",
                    f"lab {lab.id} opens at {format_minute(lab.opens)}, at or after the horizon "
                    f"({format_minute(horizon)}): it will test nothing, and any tube sent to it "
                    "stays unfinished",
                )
            )
        elif lab.opens >= last_target:
            out.append(
                Finding(
                    "lab-opens-late",
                    f"lab {lab.id} opens at {format_minute(lab.opens)}, after the last target "
                    f"({format_minute(last_target)}): tubes sent to it cannot make the targets",
                )
            )
    return out


def _same_place(scenario: Scenario) -> list[Finding]:
    routes = scenario.transport.routes
    nearest = (not isinstance(routes, tuple) and routes.assign == "nearest") or (
        scenario.transport.dispatch.rule == "nearest"
    )
    if not nearest or _moves_by_work(scenario):
        return []
    by_place: dict[tuple[float, float], list[str]] = {}
    for lab in scenario.labs:
        if lab.location is not None:
            key = (round(lab.location[0], 6), round(lab.location[1], 6))
            by_place.setdefault(key, []).append(lab.id)
    return [
        Finding(
            "labs-same-place",
            f"labs {', '.join(ids)} are at the same place: the nearest-lab rule sends every "
            f"point near them to {ids[0]} and none to {', '.join(ids[1:])} "
            "(set transport.routes.assign: capacity, or transport.dispatch: earliest_finish, "
            "or list the routes)",
        )
        for ids in by_place.values()
        if len(ids) > 1
    ]


def _uneven_load(scenario: Scenario, routes: Sequence[Route] | None) -> list[Finding]:
    if _moves_by_work(scenario) or len(scenario.labs) < 2:
        return []
    tubes = expected_tubes(scenario)
    point = {p.id: i for i, p in enumerate(scenario.points)}
    lab_index = {lab.id: k for k, lab in enumerate(scenario.labs)}
    load = np.zeros(len(scenario.labs))
    for route in routes_for(scenario) if routes is None else routes:
        load[lab_index[route.lab]] += sum(tubes[point[pid]] for pid in route.points)
    rates = np.array([c.tubes_per_hour for c in capacities(scenario)])
    hours = load / rates
    busy = np.flatnonzero(load > 0)
    out = []
    idle = [scenario.labs[k].id for k in range(len(load)) if load[k] == 0]
    if idle:
        out.append(
            Finding(
                "lab-load-uneven",
                f"no tubes are routed to {', '.join(idle)}: its capacity is not used "
                "(set transport.routes.assign: capacity, or transport.dispatch: earliest_finish)",
            )
        )
    if busy.size < 2:
        return out
    most, least = busy[np.argmax(hours[busy])], busy[np.argmin(hours[busy])]
    if hours[most] <= UNEVEN * hours[least]:
        return out

    def figures(k: int) -> str:
        return (
            f"{scenario.labs[k].id} {load[k]:,.0f} tubes for {rates[k]:,.0f} tubes/h "
            f"({hours[k]:.1f} h of work)"
        )

    out.append(
        Finding(
            "lab-load-uneven",
            f"lab load is uneven: {figures(most)}, {figures(least)}, "
            f"{hours[most] / hours[least]:.1f} times as much per unit of capacity "
            "(set transport.routes.assign: capacity, or transport.dispatch: earliest_finish)",
        )
    )
    return out
