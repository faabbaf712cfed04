"""One replication of a round: ``run_replication(scenario, replication) -> Replication``.

Pure: the outcome depends only on the scenario, the seed and the replication
number (through named streams), so replications can be mapped over processes or
a cluster and give identical numbers. Collection is computed point by point
without SimPy (see :mod:`sim.model.collect`); transport and labs run in one
SimPy environment fed with the sealed tubes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import simpy

from ..random import Streams
from ..scenario.schema import Route, Scenario
from .collect import STAT_FIELDS, PointOutcome, collect, point_statistics
from .demand import ZoneIndex, break_schedule, draw_point_demand
from .geo import routes_for
from .lab import build_lab
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
    import time

    clock = time.perf_counter()
    seed = scenario.round.seed if seed is None else seed
    streams = Streams(seed, replication)
    start = scenario.round.start
    horizon = scenario.round.horizon
    index = ZoneIndex(scenario)
    keep_residents = detail == "residents"

    outcomes: list[PointOutcome] = []
    stats: list[dict[str, object]] = []
    queues: list[tuple[np.ndarray, np.ndarray]] = []
    resident_frames: list[pd.DataFrame] = []
    steps = int(np.ceil(horizon / QUEUE_STEP)) + 1
    swab_counts = np.zeros(
        steps + 1, dtype=np.int64
    )  # the last cell collects swabs after the horizon
    for i, point in enumerate(scenario.points):
        window = point.window or scenario.demand.arrivals.window
        open_t, close_t = window.open - start, window.close - start
        demand = draw_point_demand(
            scenario, point, index.rows(i), streams, keep_zone=keep_residents
        )
        breaks = break_schedule(point, open_t, close_t)
        relief_for = point.relief.for_ if point.relief else 0.0
        out = collect(
            demand.arrivals, demand.service, point.stations, open_t, close_t, point.pool,
            demand.tube_change, breaks, relief_for,
        )  # fmt: skip
        outcomes.append(out)
        point_stats, queue_times, queue = point_statistics(
            out.arrivals, out.swab_start, demand.service, QUEUE_STEP, horizon, swab_counts
        )
        stats.append(_point_row(point.id, point.stations, open_t, close_t, out, point_stats))
        queues.append((queue_times, queue))
        if keep_residents:
            assert demand.zone is not None
            resident_frames.append(
                pd.DataFrame(
                    {
                        "point": point.id,
                        "zone": scenario.demand.zones.id[demand.zone] if demand.zone.size else [],
                        "arrival": out.arrivals,
                        "swab_start": out.swab_start,
                        "swab_end": out.swab_end,
                        "station": out.station,
                        "tube_in_point": out.tube,
                    }
                )
            )
    t_collect = time.perf_counter()

    sizes = np.array([o.tube_sealed.size for o in outcomes], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    ledger = Ledger(
        n_tubes=int(offsets[-1]),
        tube_point=np.repeat(np.arange(len(outcomes), dtype=np.int32), sizes),
        tube_station=_cat([o.tube_station for o in outcomes], np.int32),
        tube_size=_cat([o.tube_size for o in outcomes], np.int32),
        tube_first=_cat([o.tube_first for o in outcomes], np.float64),
        tube_last=_cat([o.tube_last for o in outcomes], np.float64),
        tube_sealed=_cat([o.tube_sealed for o in outcomes], np.float64),
    )

    env = simpy.Environment()
    labs = {
        lab.id: build_lab(env, k, lab, start, ledger, streams)
        for k, lab in enumerate(scenario.labs)
    }
    stocks = {
        p.id: PointStock(i, p.id, outcomes[i].tube_sealed, int(offsets[i]), p.tubes_per_bag)
        for i, p in enumerate(scenario.points)
    }
    routes = routes_for(scenario)
    vehicles = build_transport(
        env, scenario, routes, stocks, {k: lab.deliver for k, lab in labs.items()}, streams, ledger
    )
    with _collector_paused():
        env.run(until=horizon)
    t_sim = time.perf_counter()

    residents = None
    if keep_residents:
        residents = pd.concat(resident_frames, ignore_index=True)
        residents["tube"] = residents["tube_in_point"].to_numpy() + np.repeat(
            offsets[:-1], [len(f) for f in resident_frames]
        )
        residents = residents.drop(columns="tube_in_point")
    return Replication(
        scenario=scenario,
        seed=seed,
        replication=replication,
        ledger=ledger,
        routes=routes,
        vehicles=vehicles,
        points=pd.DataFrame(stats),
        point_queues=pd.DataFrame(
            {
                "point": pd.Categorical.from_codes(
                    np.repeat(np.arange(len(queues)), [t.size for t, _ in queues]),
                    categories=[p.id for p in scenario.points],
                ),
                "time": _cat([t for t, _ in queues], np.float64),
                "queue": _cat([q for _, q in queues], np.int64),
            }
        ),
        swabbed=np.cumsum(swab_counts)[:steps],
        residents=residents,
        wall={
            "collect_s": t_collect - clock,
            "transport_lab_s": t_sim - t_collect,
            # SimPy numbers its events; the next number is how many were scheduled
            "events": float(next(env._eid)) if hasattr(env, "_eid") else float("nan"),
        },
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while SimPy runs.

    The run allocates many small objects (events, records) and creates no
    reference cycles that matter; with a large heap (a city's zone ids) each
    automatic collection rescans it, which more than doubled the run time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


def _point_row(
    point_id: str,
    stations: int,
    open_t: float,
    close_t: float,
    out: PointOutcome,
    stats: np.ndarray,
) -> dict[str, object]:
    """One row of the points table (hours and minutes for people to read)."""
    n = out.arrivals.size
    value = dict(zip(STAT_FIELDS, stats.tolist(), strict=True))
    empty = n == 0
    span = max(value["last_swab"] - open_t, 1e-9)
    return {
        "point": point_id,
        "stations": stations,
        "residents": n,
        "tubes": int(out.tube_sealed.size),
        "open_h": open_t / 3600,
        "close_h": close_t / 3600,
        "first_arrival_h": np.nan if empty else float(out.arrivals[0]) / 3600,
        "last_arrival_h": np.nan if empty else float(out.arrivals[-1]) / 3600,
        "last_swab_h": np.nan if empty else value["last_swab"] / 3600,
        "last_seal_h": np.nan if empty else float(out.tube_sealed[-1]) / 3600,
        "peak_queue": int(value["peak_queue"]),
        "peak_queue_h": np.nan if empty else value["peak_queue_at"] / 3600,
        "mean_wait_min": np.nan if empty else value["mean_wait"] / 60,
        "p95_wait_min": np.nan if empty else value["p95_wait"] / 60,
        "max_wait_min": np.nan if empty else value["max_wait"] / 60,
        "waited_over_30min": value["waited_over_30min"],
        "utilisation": 0.0 if empty else value["busy"] / (stations * span),
        "unswabbed_at_horizon": int(value["unswabbed_at_horizon"]),
    }
