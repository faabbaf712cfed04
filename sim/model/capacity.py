"""What a lab can do, and how much work a scenario sends where, from the scenario alone.

A stage's rate in tubes an hour is its servers (with shifts, the mean on duty
over a day) times the tubes one run takes,
over the mean duration of a run: a bag stage takes one bag (``tubes_per_bag``
tubes, full bags: the rate of a lab fed bags that are not full is lower); a
plate stage takes ``per_run`` plates of ``wells - controls`` tubes. A lab's
capacity is the rate of its slowest stage, its bottleneck; its latency is one
run of every stage, the least time a tube spends inside. Dispatch
(:mod:`sim.model.dispatch`), capacity-share routing (:mod:`sim.model.geo`) and
the scenario checks use these figures.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..scenario.schema import Lab, PoolSpec, Scenario, roster
from ..units import DAY
from .homebound import homebound

H = 3600.0


class Capacity(NamedTuple):
    """A lab's rates: tubes an hour per stage, the slowest stage, one pass through it all."""

    rates: dict[str, float]  # tubes an hour each stage can handle
    tubes_per_hour: float  # the slowest stage's rate
    bottleneck: str  # that stage
    latency_s: float  # one mean run of every stage, seconds


def units_on_duty(pool: PoolSpec) -> float:
    """The pool's units, or with a daily roster (``shifts``) the mean on duty over a day."""
    if not pool.shifts:
        return float(pool.units)
    pieces = roster(pool.shifts, 0.0, DAY)
    return sum((b - a) * on for a, b, on in pieces) / DAY


def lab_capacity(lab: Lab, tubes_per_bag: float) -> Capacity:
    """The rates of ``lab``'s pools (a default lab's pools are its stages) when bags hold
    ``tubes_per_bag`` tubes: a pool's units on duty over the work a tube gives it (every
    step that needs it: units x mean run time / tubes a run, a run a full batch)."""
    process = lab.process
    plate = lab.samples_per_plate
    uses: dict[str, list[tuple[int, float, float]]] = {name: [] for name in process.pools}
    latency = 0.0
    for step in process.steps:
        mean = float(step.duration.mean)
        latency += mean
        per_item = tubes_per_bag if step.works_on == "bag" else plate
        for name, count in step.needs.items():
            uses[name].append((count, mean, step.batch.size * per_item))
    rates = {}
    for name, pool in process.pools.items():
        on_duty = units_on_duty(pool)
        if len(uses[name]) == 1 and uses[name][0][0] == 1:  # a pool of one step's own
            _, mean, tubes = uses[name][0]
            rates[name] = np.inf if mean <= 0 else H * (on_duty * tubes) / mean
        else:  # unit-seconds a tube gives the pool, over every step that needs it
            work = sum(count * mean / tubes for count, mean, tubes in uses[name])
            rates[name] = np.inf if work <= 0 else H * on_duty / work
    bottleneck = min(rates, key=lambda name: rates[name])
    return Capacity(rates, rates[bottleneck], bottleneck, latency)


def mean_bag(scenario: Scenario) -> float:
    """The bag size a lab's receiving is rated with: the points' mean ``tubes_per_bag``."""
    return float(np.mean([p.tubes_per_bag for p in scenario.points]))


def capacities(scenario: Scenario) -> list[Capacity]:
    """Every lab's rates, in scenario order."""
    bag = mean_bag(scenario)
    return [lab_capacity(lab, bag) for lab in scenario.labs]


def expected_residents(scenario: Scenario) -> np.ndarray:
    """Residents each point is expected to swab: participation x its zones' people who
    walk to it (the homebound are swabbed at home)."""
    zones = scenario.demand.zones
    codes = pd.Index([p.id for p in scenario.points]).get_indexer(zones.point)
    walking = zones.population - homebound(scenario)
    people = np.bincount(codes, weights=walking, minlength=len(scenario.points))
    return people * scenario.demand.participation


def expected_tubes(scenario: Scenario) -> np.ndarray:
    """Tubes each point is expected to fill: its expected residents / pool, rounded up;
    plus one a household for its zones' homebound (counted at the zone's point, not the
    team's base: near enough for a lab's load)."""
    pools = np.array([p.pool for p in scenario.points], dtype=float)
    tubes = np.ceil(expected_residents(scenario) / pools)
    door = scenario.door_to_door
    if door is not None:
        zones = scenario.demand.zones
        codes = pd.Index([p.id for p in scenario.points]).get_indexer(zones.point)
        households = np.ceil(homebound(scenario) / door.household_size)
        tubes += np.bincount(codes, weights=households, minlength=len(scenario.points))
    return tubes


def open_hours(scenario: Scenario, lab: Lab) -> float:
    """Hours the lab can work before the round's last target (at least a minute)."""
    end = scenario.round.start + max(scenario.round.targets, default=scenario.round.horizon)
    opens = scenario.round.start if lab.opens is None else lab.opens
    return max((end - opens) / H, 1.0 / 60.0)


class LabCapacity(NamedTuple):
    """A lab's capacity as planners publish it, beside what it was published at."""

    lab: str
    tubes_per_day: int  # 24 h at the rate of its slowest stage (full bags)
    bottleneck: str  # that stage, as a planner calls it
    pass_h: float  # one mean run of every stage: the least time a tube spends inside
    published_tubes_per_day: int | None
    published_turnaround_h: float | None

    def describe(self) -> str:
        """ "henan-mobile-1: 83,016 tubes a day (PCR), one pass 2.6 h"."""
        text = f"{self.lab}: {self.tubes_per_day:,} tubes a day ({self.bottleneck}), one pass {self.pass_h:.1f} h"
        if self.published_tubes_per_day is not None:
            text += f"; published {self.published_tubes_per_day:,} a day"
        if self.published_turnaround_h is not None:
            text += f", turnaround {self.published_turnaround_h:g} h"
        return text


def capacity_table(scenario: Scenario) -> list[LabCapacity]:
    """Every lab's capacity in tubes a day, its slowest stage and one pass through every
    stage, with the published figures when the lab gives them (``tubes_per_day``,
    ``turnaround``)."""
    return [
        LabCapacity(
            lab.id,
            round(float(cap.tubes_per_hour) * 24),
            scenario.process.label(cap.bottleneck),
            cap.latency_s / H,
            lab.tubes_per_day,
            None if lab.turnaround is None else lab.turnaround / H,
        )
        for lab, cap in zip(scenario.labs, capacities(scenario), strict=True)
    ]
