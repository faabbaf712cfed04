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

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ..gc_pause import collector_paused
from ..random import Streams
from ..scenario.schema import Route, Scenario
from .calendars import pool_entries
from .collect import STAT_FIELDS, Collection, collect_round
from .engine import Engine
from .geo import routes_for
from .lab import Labs
from .ledger import Ledger
from .transport import PointStock, build_transport

Detail = Literal["tubes", "residents"]
QUEUE_STEP = 15 * 60.0  # the timeline's step (point queues, residents swabbed), seconds


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


def run_replication(
    scenario: Scenario, replication: int = 0, seed: int | None = None, detail: Detail = "tubes"
) -> Replication:
    """Simulate one replication of the round."""
    with collector_paused():
        return _run(scenario, replication, seed, detail)


def _run(scenario: Scenario, replication: int, seed: int | None, detail: Detail) -> Replication:
    import time

    clock = time.perf_counter()
    seed = scenario.round.seed if seed is None else seed
    streams = Streams(seed, replication)
    start = scenario.round.start
    horizon = scenario.round.horizon
    keep_residents = detail == "residents"

    steps = int(np.ceil(horizon / QUEUE_STEP)) + 1
    swab_counts = np.zeros(
        steps + 1, dtype=np.int64
    )  # the last cell collects swabs after the horizon
    points = collect_round(scenario, streams, QUEUE_STEP, swab_counts, keep_residents)
    t_collect = time.perf_counter()

    offsets = points.tube_bounds
    ledger = Ledger(
        n_tubes=int(offsets[-1]),
        tube_point=np.repeat(np.arange(len(scenario.points), dtype=np.int32), np.diff(offsets)),
        tube_station=points.tube_station,
        tube_size=points.tube_size,
        tube_first=points.tube_first,
        tube_last=points.tube_last,
        tube_sealed=points.tube_sealed,
    )

    engine = Engine()
    # the labs first: their calendars (opening, outages) come first at any instant
    labs = Labs(engine, scenario.labs, start, ledger, streams, pool_entries(scenario))
    stocks = {
        p.id: PointStock(i, p.id, points.tubes_sealed(i), int(offsets[i]), p.tubes_per_bag)
        for i, p in enumerate(scenario.points)
    }
    routes = routes_for(scenario)
    vehicles = build_transport(engine, scenario, routes, stocks, labs.by_index, streams, ledger)
    engine.run(horizon)
    t_sim = time.perf_counter()

    residents = None
    if keep_residents:
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
    return Replication(
        scenario=scenario,
        seed=seed,
        replication=replication,
        ledger=ledger,
        routes=routes,
        vehicles=vehicles,
        points=_points_table(scenario, points),
        point_queues=pd.DataFrame(
            {
                "point": pd.Categorical.from_codes(
                    np.repeat(np.arange(len(scenario.points)), np.diff(points.queue_bounds)),
                    categories=[p.id for p in scenario.points],
                ),
                "time": points.queue_time,
                "queue": points.queue,
            }
        ),
        swabbed=np.cumsum(swab_counts)[:steps],
        residents=residents,
        wall={
            "collect_s": t_collect - clock,
            "transport_lab_s": t_sim - t_collect,
            "events": float(engine.scheduled),
        },
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
            "last_swab_h": unless_empty(value["last_swab"] / 3600),
            "last_seal_h": last_seal,
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
