"""A round stopped at a clock time, written down as data, and carried on from it.

:func:`capture` takes a :class:`~sim.model.world.Round` that has run to a
moment and returns its :class:`RoundState`: every point's stations, line and
tubes so far (:class:`~sim.model.collect.CollectionState`), the tubes picked
up so far with their history, the trips, stops, bags and plates recorded, each
route's timer, vehicles and trips under way (the bags they carry), each lab's
queues, runs under way and units out of service, how many numbers each stream
has given, and the events still to come, in order. A ``Round`` built from that
state (:func:`restore`, called by ``Round(..., state=...)``) carries on exactly
as the round that was stopped would have: the tests check every tube, plate,
trip and bag, deterministic and seeded.

How it stays exact. The events still to come are scheduled again in the order
SimPy would have taken them (by time, then by when they were scheduled), so
simultaneous events keep their order; streams drawn one value at a time
(travel noise, handovers, lab durations) are carried on by using up as many
values as the stopped round had; the collection carries on from the stations'
state (:mod:`sim.model.collect`). Tubes are numbered point by point, so a
tube's number is its point's first number plus its place there; the state
keeps each point's first number, and a round that numbers its tubes otherwise
(a point with more tubes before it) shifts them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..random import Streams
from ..scenario.schema import Scenario
from . import lab as lab_state
from . import transport as route_state
from .collect import Collection, CollectionState, collect_round
from .engine import Engine, Pending
from .ledger import Bag, Ledger, Plate, StopRecord, TripRecord


class Round(Protocol):
    """What saving and restoring read and set of a round (:class:`sim.model.world.Round`)."""

    scenario: Scenario
    seed: int
    replication_number: int
    streams: Streams
    step: float
    swab_counts: np.ndarray
    collection: Collection
    resumed_from: CollectionState | None
    resumed_queues: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    ledger: Ledger
    engine: Engine
    labs: lab_state.Labs
    stock_list: list[route_state.PointStock]
    services: list[route_state.RouteService]


# the tube columns written downstream of the points, kept for the tubes picked up so far
HISTORY = (
    "tube_trip", "tube_picked_up", "tube_delivered", "tube_lab", "tube_bag", "tube_received",
    "tube_plate",
)  # fmt: skip


@dataclass
class RoundState:
    """Everything a round needs to carry on from ``time`` (seconds from its start)."""

    time: float
    scenario: str  # the round's name, to catch a state carried on with another scenario
    seed: int
    replication: int
    collection: CollectionState
    queue_bounds: np.ndarray  # the people in line at each point before the stop, sampled
    queue_time: np.ndarray
    queue: np.ndarray
    tube_offsets: np.ndarray  # each point's first tube number in the stopped round
    taken: np.ndarray  # per point: tubes picked up before the stop (they have a history)
    history: dict[str, np.ndarray]  # their HISTORY columns, point after point
    covered: np.ndarray  # per point: a vehicle under way will still visit it
    trips: list[TripRecord]
    stops: list[StopRecord]
    bags: list[Bag]
    plates: list[Plate]
    routes: list[route_state.RouteState]
    labs: list[lab_state.LabState]
    pending: list[Pending]
    #: False: built from observed counts (:mod:`sim.nowcast.observed`), not saved by a round;
    #: a round carried on from it always draws its own future
    exact: bool = True

    @property
    def people_in_line(self) -> np.ndarray:
        """Per point: residents who had come and were not yet being swabbed."""
        return self.collection.arrived - self.collection.started

    @property
    def tubes_at_points(self) -> np.ndarray:
        """Per point: sealed tubes waiting for a vehicle at the stop."""
        c = self.collection
        point = np.repeat(np.arange(self.taken.size), np.diff(c.tube_bounds))
        sealed = ~np.isnan(c.tube_sealed) & (c.tube_sealed < self.time)
        return np.bincount(point[sealed], minlength=self.taken.size) - self.taken


def capture(round_: Round) -> RoundState:
    """The state of ``round_`` now (it must have been run to the moment wanted)."""
    now = round_.engine.now
    scenario = round_.scenario
    resumed = round_.resumed_from
    swabbed = np.zeros_like(round_.swab_counts) if resumed is None else resumed.swabbed.copy()
    stopped = collect_round(
        scenario, round_.streams, round_.step, swabbed, stop=now, resume=resumed
    )
    assert stopped.state is not None
    ledger = round_.ledger
    ledger.settle()
    offsets = round_.collection.tube_bounds
    taken = np.array([s.taken for s in round_.stock_list], dtype=np.int64)
    rows = np.concatenate(
        [np.arange(offsets[i], offsets[i] + taken[i]) for i in range(taken.size)]
        or [np.empty(0, np.int64)]
    ).astype(np.int64)
    history = {name: getattr(ledger, name)[rows].copy() for name in HISTORY}
    queues = _queues_so_far(round_, stopped.queue_bounds, stopped.queue_time, stopped.queue)
    return RoundState(
        time=now,
        scenario=scenario.round.name,
        seed=round_.seed,
        replication=round_.replication_number,
        collection=stopped.state,
        queue_bounds=queues[0],
        queue_time=queues[1],
        queue=queues[2],
        tube_offsets=offsets.copy(),
        taken=taken,
        history=history,
        covered=np.array([s.covered for s in round_.stock_list], dtype=bool),
        trips=list(ledger.trips),
        stops=list(ledger.stops),
        bags=copy.deepcopy(ledger.bags),
        plates=copy.deepcopy(ledger.plates),
        routes=[route_state.snapshot(r) for r in round_.services],
        labs=[lab_state.snapshot(lab) for lab in round_.labs.by_index],
        pending=round_.engine.pending(),
    )


def _queues_so_far(
    round_: Round, bounds: np.ndarray, times: np.ndarray, queue: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The queue samples of every piece so far (a round carried on has its state's too)."""
    before = round_.resumed_queues
    if before is not None:
        bounds, times, queue = merge_queues(before, (bounds, times, queue))
    return bounds, times, queue


def merge_queues(
    first: tuple[np.ndarray, np.ndarray, np.ndarray],
    then: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two pieces' queue samples (bounds, times, counts per point) as one, point by point."""
    (b1, t1, q1), (b2, t2, q2) = first, then
    times, counts, sizes = [], [], []
    for i in range(b1.size - 1):
        t = np.concatenate([t1[b1[i] : b1[i + 1]], t2[b2[i] : b2[i + 1]]])
        q = np.concatenate([q1[b1[i] : b1[i + 1]], q2[b2[i] : b2[i + 1]]])
        times.append(t)
        counts.append(q)
        sizes.append(t.size)
    bounds = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=bounds[1:])
    return (
        bounds,
        np.concatenate(times) if times else np.empty(0),
        np.concatenate(counts) if counts else np.empty(0, np.int64),
    )


def _shifter(old: np.ndarray, new: np.ndarray) -> Callable[[int], int]:
    """Saved tube number -> this round's: the same place at the same point."""
    if np.array_equal(old, new):
        return lambda tube: tube
    shift = new - old

    def moved(tube: int) -> int:
        point = int(np.searchsorted(old, tube, side="right")) - 1
        return int(tube + shift[point])

    return moved


def restore(round_: Round, state: RoundState) -> None:
    """Set a round built from ``state`` (its components built without their first events)
    to the saved state and schedule the events still to come."""
    if state.scenario != round_.scenario.round.name:
        raise ValueError(
            f"the state is of '{state.scenario}', not of '{round_.scenario.round.name}'"
        )
    ledger = round_.ledger
    offsets = round_.collection.tube_bounds
    shift = _shifter(state.tube_offsets, offsets)
    # the history of the tubes picked up: the first ``taken`` of each point
    rows = np.concatenate(
        [np.arange(offsets[i], offsets[i] + state.taken[i]) for i in range(state.taken.size)]
        or [np.empty(0, np.int64)]
    ).astype(np.int64)
    for name, values in state.history.items():
        getattr(ledger, name)[rows] = values
    ledger.trips = list(state.trips)
    ledger.stops = [
        stop._replace(lo=shift(stop.lo), hi=shift(stop.lo) + stop.hi - stop.lo)
        for stop in state.stops
    ]
    ledger.bags = copy.deepcopy(state.bags)
    ledger.plates = copy.deepcopy(state.plates)
    for bag in ledger.bags:
        bag.lo, bag.hi = shift(bag.lo), shift(bag.lo) + bag.hi - bag.lo
    for plate in ledger.plates:
        plate.ranges = [(shift(lo), shift(lo) + hi - lo) for lo, hi in plate.ranges]
    for stock, taken, covered in zip(round_.stock_list, state.taken, state.covered, strict=True):
        stock.taken = int(taken)
        stock.covered = bool(covered)
    for service, saved in zip(round_.services, state.routes, strict=True):
        route_state.restore(service, saved, round_.stock_list, shift)
    for lab, saved_lab in zip(round_.labs.by_index, state.labs, strict=True):
        lab_state.restore(lab, saved_lab, shift)
    components: dict[str, Any] = {s.key: s for s in round_.services}
    for lab in round_.labs.by_index:
        components[lab.key] = lab
        components.update({step.key: step for step in lab.steps.values()})
    engine = round_.engine
    opening = _openings(round_, state)
    new: dict[int, int] = {}
    for p in state.pending:
        owner = components.get(p.owner)
        if owner is None:
            raise ValueError(f"the state has an event for '{p.owner}', which this round lacks")
        args = opening.get(p.seq, p.args)
        new[p.seq] = engine.at(p.due - engine.now, getattr(owner, p.method), *args)
    for service in round_.services:
        route_state.renumber_events(service, new)
    for lab in round_.labs.by_index:
        lab_state.renumber_events(lab, new)


def _openings(round_: Round, state: RoundState) -> dict[int, tuple[Any, ...]]:
    """The opening events of labs not open yet whose pools have more units than the state's
    (a variant: a nowcast's lever): each opening brings this round's units, by event."""
    out: dict[int, tuple[Any, ...]] = {}
    for lab, saved in zip(round_.labs.by_index, state.labs, strict=True):
        grown = {
            name: (pool.units, lab.pools[name].units)
            for name, pool in saved.pools.items()
            if 0 <= pool.units != lab.pools[name].units
        }
        if not grown:
            continue
        for p in state.pending:
            if p.owner == lab.key and p.method == "calendar" and abs(p.due - lab.opens_at) < 1e-9:
                changes = tuple(
                    (name, -grown[name][1], rule)
                    if name in grown and change == -grown[name][0]
                    else (name, change, rule)
                    for name, change, rule in p.args[0]
                )
                out[p.seq] = (changes,)
    return out
