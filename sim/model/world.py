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
from .calendars import pool_entries
from .collect import STAT_FIELDS, Collection, collect_round
from .engine import Engine
from .followup import Followup
from .geo import routes_for
from .lab import Labs
from .ledger import Ledger
from .positives import TubeReads, read_tubes
from .state import RoundState, capture, merge_queues, restore
from .transport import PointStock, build_transport

Detail = Literal["tubes", "residents"]
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
    times as the round that was not stopped. :meth:`records` gives what the
    round recorded, for the tables.
    """

    def __init__(
        self,
        scenario: Scenario,
        replication: int = 0,
        seed: int | None = None,
        detail: Detail = "tubes",
        state: RoundState | None = None,
        sampled: Sampled | None = None,
    ) -> None:
        with collector_paused():  # see sim.gc_pause: building makes no cycles worth collecting
            self._build(scenario, replication, seed, detail, state, sampled)

    def _build(
        self,
        scenario: Scenario,
        replication: int,
        seed: int | None,
        detail: Detail,
        state: RoundState | None,
        sampled: Sampled | None,
    ) -> None:
        clock = time.perf_counter()
        self.scenario = scenario
        self.replication_number = replication
        self.seed = scenario.round.seed if seed is None else seed
        if state is not None and (state.seed, state.replication) != (self.seed, replication):
            raise ValueError(
                f"the state is of seed {state.seed}, replication {state.replication}: carry it "
                "on with the same seed and replication"
            )
        if state is not None and detail == "residents":
            raise ValueError("a round carried on from a state keeps no residents' table")
        if sampled is not None and (state is not None or detail == "residents"):
            raise ValueError("a round on another's collection starts afresh and keeps no residents")
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
        if sampled is not None:
            points = sampled.collection
            self.swab_counts[:] = sampled.swab_counts
        else:
            points = collect_round(
                scenario, self.streams, QUEUE_STEP, self.swab_counts, detail == "residents",
                resume=self.resumed_from,
            )  # fmt: skip
        self.collection = points
        self.wall = {"collect_s": time.perf_counter() - clock}

        offsets = points.tube_bounds
        self.ledger = ledger = Ledger(
            n_tubes=int(offsets[-1]),
            tube_point=np.repeat(np.arange(len(scenario.points), dtype=np.int32), np.diff(offsets)),
            tube_station=points.tube_station,
            tube_size=points.tube_size,
            tube_first=points.tube_first,
            tube_last=points.tube_last,
            tube_sealed=points.tube_sealed,
            tube_arrival=points.tube_arrival,
        )
        restoring = state is not None
        self.engine = engine = Engine(state.time if state is not None else 0.0)
        # the labs first: their calendars (opening, outages) come first at any instant
        self.labs = Labs(
            engine, scenario.labs, scenario.round.start, ledger, self.streams,
            pool_entries(scenario), restoring=restoring,
        )  # fmt: skip
        self.stock_list = [
            PointStock(i, p.id, points.tubes_sealed(i), int(offsets[i]), p.tubes_per_bag)
            for i, p in enumerate(scenario.points)
        ]
        stocks = {stock.key: stock for stock in self.stock_list}
        self.routes = routes_for(scenario)
        self.vehicles, self.services = build_transport(
            engine, scenario, self.routes, stocks, self.labs.by_index, self.streams, ledger,
            restoring,
        )  # fmt: skip
        self.reads = read_tubes(
            scenario, ledger.tube_size, ledger.tube_point, ledger.tube_station, self.streams
        )
        self.followup: Followup | None = None
        spec = scenario.positives.followup
        if spec is not None and self.reads is not None:
            if state is not None:
                raise ValueError("a round with positives.followup cannot carry on from a state yet")
            self.followup = Followup(
                engine, scenario, self.reads, ledger.tube_point, spec, list(self.labs.by_index)
            )
        if state is not None:
            restore(self, state)
        self.wall["build_s"] = time.perf_counter() - clock - self.wall["collect_s"]

    @property
    def sampled(self) -> Sampled:
        """This round's collection, for variants that change only vehicles or labs."""
        return Sampled(self.collection, self.swab_counts.copy())

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
                    "tube": points.tube,
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
        )


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


def _points_table(scenario: Scenario, points: Collection) -> pd.DataFrame:
    """One row per point: demand, queue and wait statistics (hours and minutes for people)."""
    value = dict(zip(STAT_FIELDS, points.stats.T, strict=True))
    start = scenario.round.start
    default = scenario.demand.arrivals.window
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
