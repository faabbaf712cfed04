"""``natsim show``: a scenario described in one screen, before anything is run.

What a planner checks first: who comes when and where, how many tubes that is
for each lab against what the lab can test in a day, how many hours of work
that gives each lab, the fleet, what is planned to go wrong, and the warnings
(:mod:`sim.checks`). Every figure is computed from the scenario alone (expected
residents and tubes as :mod:`sim.model.capacity` works them out), so ``show``
takes a second even for a city.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from .checks import check
from .model.capacity import capacities, capacity_table, expected_residents, expected_tubes
from .model.geo import routes_for
from .scenario.schema import Scenario, windows_of
from .units import HOUR, format_clock


def show(scenario: Scenario, console: Console) -> None:
    """Print ``scenario`` as a planner reads it: demand, points, labs, fleet, warnings."""
    sc = scenario
    zones = sc.demand.zones
    residents = expected_residents(sc)
    tubes = expected_tubes(sc)
    targets = ", ".join(f"{t / HOUR:g} h" for t in sc.round.targets)
    console.print(
        f"[bold]{sc.round.name}[/bold]  starts {format_clock(sc.round.start)}, "
        f"targets {targets}, horizon {sc.round.horizon / HOUR:g} h"
    )
    arrivals = sc.demand.arrivals
    spans = ", ".join(f"{format_clock(a)}-{format_clock(b)}" for a, b in arrivals.times)
    profile = arrivals.profile if isinstance(arrivals.profile, str) else "given shares"
    console.print(
        f"  demand: {zones.total_population:,} people in {len(zones):,} zones; "
        f"{sc.demand.participation:.0%} come: about {residents.sum():,.0f} residents "
        f"in {tubes.sum():,.0f} tubes; arrivals {spans} ({profile}, {arrivals.spacing})"
    )
    _points(sc, residents, tubes, console)
    _labs(sc, tubes, console)
    _fleet(sc, console)
    for d in sc.disruptions:
        console.print(f"  disruption: {d.describe()}")
    if sc.positives.active:
        console.print(f"  positives: prevalence {sc.positives.prevalence:g}")
    if sc.door_to_door is not None:
        teams = sum(b.teams for b in sc.door_to_door.teams)
        console.print(f"  door-to-door: {teams} teams at {len(sc.door_to_door.teams)} bases")
    found = [f.message for f in check(sc)]
    if found:
        console.print(f"[bold]{len(found)} warning{'s' if len(found) > 1 else ''}[/bold]")
        for message in found:
            console.print(f"  [yellow]warning:[/yellow] {message}")
    else:
        console.print("no warnings")


def _points(sc: Scenario, residents: np.ndarray, tubes: np.ndarray, console: Console) -> None:
    stations = np.array([p.stations for p in sc.points])
    hours = np.array(
        [sum(b - a for a, b in windows_of(p.window, p.windows)) / HOUR if p.window else 0.0
         for p in sc.points]
    )  # fmt: skip
    pools = sorted({p.pool for p in sc.points})
    console.print(
        f"  points: {len(sc.points):,} with {stations.sum():,} stations "
        f"({stations.min()}-{stations.max()} a point), pools of {', '.join(map(str, pools))}; "
        "open "
        + (
            f"{hours.min():g} h"
            if hours.min() == hours.max()
            else f"{hours.min():g}-{hours.max():g} h"
        )
    )
    per_station_hour = np.divide(
        residents, stations * np.maximum(hours, 1e-9), out=np.zeros_like(residents)
    )
    busiest = np.argsort(-per_station_hour, kind="stable")[:5]
    table = Table(title="the busiest points (residents an hour a station)", title_justify="left")
    for name in ("point", "residents", "tubes", "stations", "open h", "an hour a station"):
        table.add_column(name, justify="left" if name == "point" else "right")
    for i in busiest:
        table.add_row(
            sc.points[i].id,
            f"{residents[i]:,.0f}",
            f"{tubes[i]:,.0f}",
            str(stations[i]),
            f"{hours[i]:g}",
            f"{per_station_hour[i]:.0f}",
        )
    console.print(table)


def _labs(sc: Scenario, tubes: np.ndarray, console: Console) -> None:
    routes = routes_for(sc)
    index = {p.id: i for i, p in enumerate(sc.points)}
    table = Table(title="labs (tubes as the routes send them)", title_justify="left")
    columns = ("lab", "opens", "steps", "points", "tubes", "tubes a day", "slowest",
               "hours of work", "one pass h")  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name in ("lab", "steps", "slowest") else "right")
    rows = capacity_table(sc)
    for lab, cap, row in zip(sc.labs, capacities(sc), rows, strict=True):
        mine = [index[p] for r in routes if r.lab == lab.id for p in r.points]
        load = float(tubes[mine].sum()) if mine else 0.0
        work = load / cap.tubes_per_hour if cap.tubes_per_hour > 0 else float("inf")
        steps = (
            "default stages"
            if lab.process.default
            else " > ".join(s.name for s in lab.process.steps)
        )
        table.add_row(
            lab.id,
            format_clock(lab.opens) if lab.opens is not None else "at start",
            steps,
            f"{len(mine):,}",
            f"{load:,.0f}",
            f"{row.tubes_per_day:,}",
            row.bottleneck,
            f"{work:.1f}",
            f"{row.pass_h:.1f}",
        )
    console.print(table)


def _fleet(sc: Scenario, console: Console) -> None:
    routes = routes_for(sc)
    vehicles = sum(r.vehicles for r in routes)
    pickups = sc.transport.pickups
    when = []
    if pickups.every is not None:
        when.append(f"every {pickups.every / HOUR:g} h")
    if pickups.when_tubes is not None:
        when.append(f"at {pickups.when_tubes} tubes")
    if pickups.final_sweep:
        when.append("a final sweep at closing")
    console.print(
        f"  fleet: {vehicles:,} vehicles on {len(routes):,} routes; pickups "
        f"{', '.join(when) or 'never'}; dispatch {sc.transport.dispatch.rule}"
    )
