"""One replication of a round: ``run_replication(scenario, replication) -> Replication``.

Pure: the outcome depends only on the scenario, the seed and the replication
number (through named streams), so replications can be mapped over processes or
a cluster and give identical numbers. Collection is computed point by point
without SimPy (see :mod:`sim.model.collect`: nothing downstream feeds back
into a point's line); vehicles and labs then run in one SimPy event loop
(:mod:`sim.model.engine`), fed with the sealed tubes, so that a lab's work in
hand can decide where a vehicle goes (:mod:`sim.model.dispatch`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from ..gc_pause import collector_paused
from ..random import Streams
from ..scenario.schema import Route, Scenario
from .calendars import failure_entries, merge_entries, pool_entries
from .collect import STAT_FIELDS, Collection, collect_round
from .door import Couriers, DoorRound, door_table, schedule
from .engine import Engine
from .followup import Followup
from .geo import routes_for
from .homebound import homebound, walkers_scenario
from .lab import Labs
from .ledger import Ledger
from .positives import TubeReads, read_tubes
from .state import RoundState, capture, merge_queues, restore
from .transport import PointStock, build_transport

Detail = Literal["tubes", "residents"]
H = 3600.0
QUEUE_STEP = 15 * 60.0  # the timeline's step (point queues, residents swabbed), seconds


class Sampled(NamedTuple):
    """A round's collection and its swab counts, to run other variants of the round on.

    Collection reads only the round's clock, the demand, the points and the
    sampling disruptions (nothing downstream feeds back into a line), so a
    variant that changes only vehicles or labs has the same collection in the
    same replication: :class:`Round` takes it instead of collecting again.
    """

    collection: Collection
    swab_counts: np.ndarray


@dataclass
class Replication:
    """Everything one replication recorded, before it is turned into tables."""

    scenario: Scenario
    seed: int
    replication: int
    ledger: Ledger
    routes: tuple[Route, ...]
    vehicles: list[str]
    points: pd.DataFrame  # one row per point: demand, queue and wait statistics
    point_queues: pd.DataFrame  # point, time, queue (people waiting) every QUEUE_STEP
    swabbed: np.ndarray  # residents swabbed by k * QUEUE_STEP, k = 0 .. horizon / QUEUE_STEP
    residents: pd.DataFrame | None = None
    wall: dict[str, float] = field(default_factory=dict)
    reads: TubeReads | None = None  # what each tube read (None: no positives section)
    recalls: pd.DataFrame | None = None  # one row per recall (with positives.followup)
    door: pd.DataFrame | None = None  # one row per household visited (with door_to_door)
    failures: pd.DataFrame | None = None  # one row per breakdown (with failures:)


def run_replication(
    scenario: Scenario, replication: int = 0, seed: int | None = None, detail: Detail = "tubes"
) -> Replication:
    """Simulate one replication of the round."""
    with collector_paused():
        run = Round(scenario, replication, seed, detail)
        run.run()
        return run.records()


class Round:
    """One replication of a round as it runs: built, run to a moment, saved, carried on.

    ``Round(scenario, r).run()`` simulates the whole round (what
    :func:`run_replication` does); ``run(until)`` stops at ``until`` seconds from
    the start, :meth:`save` then gives its state (:class:`~sim.model.state.RoundState`),
    and ``Round(scenario, r, state=saved)`` carries on from it, with the same
    times as the round that was not stopped. With ``allow_redraw``, a state of
    another replication (or one observed, not saved) is carried on with this
    replication's draws from then on: a nowcast (:mod:`sim.nowcast`).
    :meth:`records` gives what the round recorded, for the tables.
    """

    def __init__(
        self,
        scenario: Scenario,
        replication: int = 0,
        seed: int | None = None,
        detail: Detail = "tubes",
        state: RoundState | None = None,
        sampled: Sampled | None = None,
        allow_redraw: bool = False,
    ) -> None:
        with collector_paused():  # see sim.gc_pause: building makes no cycles worth collecting
            self._build(scenario, replication, seed, detail, state, sampled, allow_redraw)

    def _build(
        self,
        scenario: Scenario,
        replication: int,
        seed: int | None,
        detail: Detail,
        state: RoundState | None,
        sampled: Sampled | None,
        allow_redraw: bool,
    ) -> None:
        clock = time.perf_counter()
        self.scenario = scenario
        self.replication_number = replication
        self.seed = scenario.round.seed if seed is None else seed
        #: a nowcast: the future is drawn from this replication's streams, not the state's
        self.redraw = state is not None and (
            not state.exact or (state.seed, state.replication) != (self.seed, replication)
        )
        if self.redraw and not allow_redraw:
            assert state is not None
            raise ValueError(
                f"the state is of seed {state.seed}, replication {state.replication}: carry it "
                "on with the same seed and replication (a nowcast draws another future: "
                "sim.nowcast)"
            )
        if state is not None and detail == "residents":
            raise ValueError("a round carried on from a state keeps no residents' table")
        if sampled is not None and (state is not None or detail == "residents"):
            raise ValueError("a round on another's collection starts afresh and keeps no residents")
        if state is not None and scenario.door_to_door is not None:
            raise ValueError("a round with door_to_door cannot carry on from a state yet")
        self.detail = detail
        self.streams = Streams(self.seed, replication)
        self.step = QUEUE_STEP
        horizon = scenario.round.horizon
        self.steps = int(np.ceil(horizon / QUEUE_STEP)) + 1
        # the last cell collects swabs after the horizon
        self.swab_counts = np.zeros(self.steps + 1, dtype=np.int64)
        self.resumed_from = state.collection if state is not None else None
        self.resumed_queues = (
            (state.queue_bounds, state.queue_time, state.queue) if state is not None else None
        )
        if state is not None:
            self.swab_counts[:] = state.collection.swabbed
        home = homebound(scenario)
        walkers = walkers_scenario(scenario, home)  # the homebound do not walk to a point
        if sampled is not None:
            points = sampled.collection
            self.swab_counts[:] = sampled.swab_counts
        else:
            points = collect_round(
                walkers, self.streams, QUEUE_STEP, self.swab_counts, detail == "residents",
                resume=self.resumed_from, redraw=self.redraw,
            )  # fmt: skip
        self.collection = points
        self.point_swab_counts = self.swab_counts.copy()
        self.wall = {"collect_s": time.perf_counter() - clock}
        self.routes = routes_for(scenario)
        self.door: DoorRound | None = None
        if scenario.door_to_door is not None:
            self.door = schedule(scenario, self.streams, self.routes, home)
        tubes = _Tubes.of(points, len(scenario.points), self.door, QUEUE_STEP, self.swab_counts)
        self.ledger = ledger = Ledger(
            n_tubes=int(tubes.bounds[-1]),
            tube_point=tubes.point,
            tube_station=tubes.station,
            tube_size=tubes.size,
            tube_first=tubes.first,
            tube_last=tubes.last,
            tube_sealed=tubes.sealed,
            tube_arrival=tubes.arrival,
        )
        self.door_tube = tubes.door_tube
        self.own_tube = tubes.own_tube
        restoring = state is not None
        self.engine = engine = Engine(state.time if state is not None else 0.0)
        # the labs first: their calendars (opening, outages) come first at any instant
        broken, self.breakdowns = failure_entries(scenario, self.streams)
        self.labs = Labs(
            engine, scenario.labs, scenario.round.start, ledger, self.streams,
            merge_entries(pool_entries(scenario), broken), restoring=restoring,
        )  # fmt: skip
        offsets = tubes.bounds
        self.stock_list = [
            PointStock(i, p.id, tubes.waiting_at(i), int(offsets[i]), p.tubes_per_bag)
            for i, p in enumerate(scenario.points)
        ]
        stocks = {stock.key: stock for stock in self.stock_list}
        self.vehicles, self.services, broken_down = build_transport(
            engine, scenario, self.routes, stocks, self.labs.by_index, self.streams, ledger,
            restoring,
        )  # fmt: skip
        for name, entries in broken_down.items():
            self.breakdowns += [
                ("", "vehicle", self.vehicles.index(name), e.start, e.end) for e in entries
            ]
        if self.door is not None and tubes.courier_trips:
            route_of = {}
            vehicle_of = {}
            for point in sorted({trip[2] for trip in tubes.courier_trips}):
                point_id = scenario.points[point].id
                route_of[point] = next(
                    k for k, route in enumerate(self.routes) if point_id in route.points
                )
                vehicle_of[point] = len(self.vehicles)
                self.vehicles.append(f"courier:{point_id}")
            Couriers(
                engine, ledger, list(self.labs.by_index), tubes.courier_trips, route_of,
                vehicle_of, {i: p.tubes_per_bag for i, p in enumerate(scenario.points)},
            )  # fmt: skip
        self.reads = read_tubes(
            scenario, ledger.tube_size, ledger.tube_point, ledger.tube_station, self.streams,
            None if self.door is None else (self.door_tube, self.door.zone),
        )  # fmt: skip
        self.followup: Followup | None = None
        spec = scenario.positives.followup
        if spec is not None and self.reads is not None:
            if state is not None:
                raise ValueError("a round with positives.followup cannot carry on from a state yet")
            self.followup = Followup(
                engine, scenario, self.reads, ledger.tube_point, spec, list(self.labs.by_index),
                self.stock_list, self.services,
            )  # fmt: skip
        if state is not None:
            restore(self, state)
        self.wall["build_s"] = time.perf_counter() - clock - self.wall["collect_s"]

    @property
    def sampled(self) -> Sampled:
        """This round's collection, for variants that change only vehicles or labs."""
        return Sampled(self.collection, self.point_swab_counts.copy())

    @property
    def now(self) -> float:
        """Seconds from the round's start the round has run to."""
        return self.engine.now

    def run(self, until: float | None = None) -> None:
        """Carry the round on to ``until`` seconds from its start (default: the horizon);
        events due at ``until`` have not happened yet."""
        horizon = self.scenario.round.horizon
        end = horizon if until is None else min(float(until), horizon)
        clock = time.perf_counter()
        with collector_paused():
            self.engine.run(end)
        self.wall["transport_lab_s"] = self.wall.get("transport_lab_s", 0.0) + (
            time.perf_counter() - clock
        )

    def save(self) -> RoundState:
        """The round's state now (see :mod:`sim.model.state`)."""
        if self.followup is not None:
            raise ValueError("the state of a round with positives.followup cannot be saved yet")
        if self.door is not None:
            raise ValueError("the state of a round with door_to_door cannot be saved yet")
        with collector_paused():
            return capture(self)

    def records(self) -> Replication:
        """What the round recorded, for the tables (run it to the horizon first)."""
        scenario = self.scenario
        points = self.collection
        self.ledger.settle()
        residents = None
        if self.detail == "residents":
            assert points.zone is not None and points.arrivals is not None
            assert points.swab_start is not None and points.service is not None
            residents = pd.DataFrame(
                {
                    "point": np.repeat(
                        np.array([p.id for p in scenario.points], dtype=object),
                        np.diff(points.resident_bounds),
                    ),
                    "zone": scenario.demand.zones.id[points.zone],
                    "arrival": points.arrivals,
                    "swab_start": points.swab_start,
                    "swab_end": points.swab_start + points.service,
                    "station": points.station,
                    "tube": points.tube if self.own_tube is None else self.own_tube[points.tube],
                }
            )
        bounds, times, queue = points.queue_bounds, points.queue_time, points.queue
        if self.resumed_queues is not None:
            bounds, times, queue = merge_queues(self.resumed_queues, (bounds, times, queue))
        return Replication(
            scenario=scenario,
            seed=self.seed,
            replication=self.replication_number,
            ledger=self.ledger,
            routes=self.routes,
            vehicles=self.vehicles,
            points=_points_table(scenario, points),
            point_queues=pd.DataFrame(
                {
                    "point": pd.Categorical.from_codes(
                        np.repeat(np.arange(len(scenario.points)), np.diff(bounds)),
                        categories=[p.id for p in scenario.points],
                    ),
                    "time": times,
                    "queue": queue,
                }
            ),
            swabbed=np.cumsum(self.swab_counts)[: self.steps],
            residents=residents,
            wall={**self.wall, "events": float(self.engine.scheduled)},
            reads=self.reads,
            recalls=None if self.followup is None else self.followup.table(self.replication_number),
            door=None
            if self.door is None
            else door_table(self.door, scenario, self.replication_number, self.door_tube),
            failures=self._failure_table(),
        )

    def _failure_table(self) -> pd.DataFrame | None:
        """One row per breakdown: the lab and pool (column ``stage``; a default lab's pools
        are its stages) or vehicle, the unit, and when it was out of order (hours; an end
        past the horizon is NaN), or None without failures."""
        sc = self.scenario
        if sc.transport.failures is None and not any(
            pool.failures for lab in sc.labs for pool in lab.process.pools.values()
        ):
            return None
        horizon = sc.round.horizon
        rows = [
            {
                "replication": self.replication_number,
                "lab": lab or None,
                "stage": stage,
                "unit": self.vehicles[unit] if stage == "vehicle" else str(unit),
                "start_h": start / H,
                "end_h": end / H if end <= horizon else np.nan,
            }
            for lab, stage, unit, start, end in self.breakdowns
        ]
        columns = ["replication", "lab", "stage", "unit", "start_h", "end_h"]
        return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class _Tubes:
    """The round's tubes as the ledger numbers them: each point's own tubes with the
    door-to-door tubes handed over at it, in seal order, then (``tubes: courier``) the
    tubes its couriers carry, by pick-up; without door-to-door, the collection's arrays
    as they are."""

    bounds: np.ndarray  # point i's tubes are bounds[i]:bounds[i + 1]
    stocked: np.ndarray  # of which the first stocked[i] wait at the point for a vehicle
    point: np.ndarray
    station: np.ndarray
    size: np.ndarray
    first: np.ndarray
    last: np.ndarray
    sealed: np.ndarray
    arrival: np.ndarray
    door_tube: np.ndarray  # the tube of each household of the door round
    own_tube: np.ndarray | None  # the ledger tube of each collection tube (None: the same)
    courier_trips: list[tuple[int, int, int, int, float, float]]  # lo, hi, point, lab, out, in

    def waiting_at(self, point: int) -> np.ndarray:
        """Seal times of the tubes that wait at ``point`` for a vehicle."""
        lo = self.bounds[point]
        return self.sealed[lo : lo + self.stocked[point]]

    @classmethod
    def of(
        cls,
        points: Collection,
        n_points: int,
        door: DoorRound | None,
        step: float,
        swab_counts: np.ndarray,
    ) -> _Tubes:
        offsets = points.tube_bounds
        point = np.repeat(np.arange(n_points, dtype=np.int32), np.diff(offsets))
        if door is None or not len(door):
            return cls(
                offsets, np.diff(offsets), point, points.tube_station, points.tube_size,
                points.tube_first, points.tube_last, points.tube_sealed, points.tube_arrival,
                np.empty(0, np.int64), None, [],
            )  # fmt: skip
        # the households' swabs join the timeline (as every swab: the cell of ceil(end / step))
        cells = np.minimum(np.ceil(door.swabbed / step).astype(np.int64), swab_counts.size - 1)
        np.add.at(swab_counts, cells, door.size)
        n_own, n_door = int(offsets[-1]), len(door)
        by_courier = np.concatenate([np.zeros(n_own, bool), door.lab >= 0])
        point = np.concatenate([point, door.base.astype(np.int32)])
        sealed = np.concatenate([points.tube_sealed, door.handed])
        trip = np.concatenate([np.full(n_own, -1, np.int64), door.trip])
        # by point; at the point, then by courier; by seal time; a point's own tubes first
        order = np.lexsort((np.arange(n_own + n_door), trip, sealed, by_courier, point))
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        counts = np.bincount(point, minlength=n_points)
        bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        stocked = counts - np.bincount(point[by_courier], minlength=n_points)
        door_tube = position[n_own:]
        couriers: list[tuple[int, int, int, int, float, float]] = []
        if by_courier.any():
            mine = np.flatnonzero(door.lab >= 0)
            for t in np.unique(door.trip[mine]):
                rows = mine[door.trip[mine] == t]
                tubes = door_tube[rows]
                lo, hi = int(tubes.min()), int(tubes.max()) + 1
                assert hi - lo == rows.size  # a trip's tubes are one range
                r = int(rows[0])
                couriers.append(
                    (lo, hi, int(door.base[r]), int(door.lab[r]), float(door.handed[r]),
                     float(door.delivered[r]))
                )  # fmt: skip

        def merged(own: np.ndarray, theirs: np.ndarray) -> np.ndarray:
            return np.concatenate([own, theirs.astype(own.dtype, copy=False)])[order]

        return cls(
            bounds, stocked, point[order],
            merged(points.tube_station, np.full(n_door, -1)),
            merged(points.tube_size, door.size),
            merged(points.tube_first, door.arrive),
            merged(points.tube_last, door.swabbed),
            sealed[order],
            merged(points.tube_arrival, door.arrive),
            door_tube, position[:n_own], couriers,
        )  # fmt: skip


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


def _points_table(scenario: Scenario, points: Collection) -> pd.DataFrame:
    """One row per point: demand, queue and wait statistics (hours and minutes for people)."""
    value = dict(zip(STAT_FIELDS, points.stats.T, strict=True))
    start = scenario.round.start
    default = scenario.demand.arrivals.span
    windows = [p.window or default for p in scenario.points]
    open_t = np.array([w.open - start for w in windows], dtype=float)
    close_t = np.array([w.close - start for w in windows], dtype=float)
    stations = np.array([p.stations for p in scenario.points], dtype=np.int64)
    n = points.residents
    tubes = np.diff(points.tube_bounds)
    empty = n == 0
    last_seal = np.full(n.size, np.nan)
    last_seal[~empty] = points.tube_sealed[points.tube_bounds[1:][~empty] - 1] / 3600
    horizon = scenario.round.horizon
    span = np.maximum(value["last_swab"] - open_t, 1e-9)

    def unless_empty(x: np.ndarray) -> np.ndarray:
        return np.where(empty, np.nan, x)

    return pd.DataFrame(
        {
            "point": [p.id for p in scenario.points],
            "stations": stations,
            "residents": n,
            "tubes": tubes,
            "open_h": open_t / 3600,
            "close_h": close_t / 3600,
            "first_arrival_h": points.first_arrival / 3600,
            "last_arrival_h": points.last_arrival / 3600,
            # a swab after the horizon did not happen within the round: NaN, as in the tubes
            "last_swab_h": unless_empty(
                np.where(value["last_swab"] > horizon, np.nan, value["last_swab"] / 3600)
            ),
            "last_seal_h": np.where(last_seal > horizon / 3600, np.nan, last_seal),
            "peak_queue": value["peak_queue"].astype(np.int64),
            "peak_queue_h": unless_empty(value["peak_queue_at"] / 3600),
            "mean_wait_min": unless_empty(value["mean_wait"] / 60),
            "p95_wait_min": unless_empty(value["p95_wait"] / 60),
            "max_wait_min": unless_empty(value["max_wait"] / 60),
            "waited_over_30min": value["waited_over_30min"],
            "utilisation": np.where(empty, 0.0, value["busy"] / (stations * span)),
            "unswabbed_at_horizon": value["unswabbed_at_horizon"].astype(np.int64),
        }
    )
