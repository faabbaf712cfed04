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
  its rate, :mod:`sim.model.capacity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .model.capacity import capacities, expected_tubes
from .model.geo import routes_for
from .scenario.schema import Route, Scenario
from .units import format_minute

H = 3600.0
UNEVEN = 2.0  # a lab with this many times another's hours of work is flagged


class Finding(NamedTuple):
    """One pitfall: a short code, and a sentence with the figures."""

    code: str
    message: str


def check(scenario: Scenario, routes: Sequence[Route] | None = None) -> list[Finding]:
    """Every pitfall found in ``scenario``, most serious first (``routes``: the routes the
    round uses, when the caller has them; otherwise they are built)."""
    return [*_opens_late(scenario), *_same_place(scenario), *_uneven_load(scenario, routes)]


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
