"""One replication of a round: ``run_replication(scenario, replication) -> Replication``.

Pure: the outcome depends only on the scenario, the seed and the replication
number (through named streams), so replications can be mapped over processes or
a cluster and give identical numbers. Collection is computed point by point
without SimPy (see :mod:`sim.model.collect`); transport and labs run in one
SimPy environment fed with the sealed tubes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import simpy

from ..random import Streams
from ..scenario.schema import Route, Scenario
from .collect import PointOutcome, collect
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
    swab_counts = np.zeros(steps + 1, dtype=np.int64)
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
        stats.append(_point_stats(point.id, point.stations, open_t, close_t, out, horizon))
        queues.append(_queue_series(out))
        swab_counts += np.bincount(
            np.minimum(np.ceil(out.swab_end / QUEUE_STEP), steps).astype(np.int64),
            minlength=steps + 1,
        )
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
        wall={"collect_s": t_collect - clock, "transport_lab_s": t_sim - t_collect},
    )


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


def queue_lengths(arrivals: np.ndarray, starts: np.ndarray, times: np.ndarray) -> np.ndarray:
    """People waiting in line (arrived, not yet started) at each of ``times``.

    ``starts`` is non-decreasing (one FIFO line), so both counts are binary searches.
    """
    return np.searchsorted(arrivals, times, side="right") - np.searchsorted(
        starts, times, side="right"
    )


def _point_stats(
    point_id: str, stations: int, open_t: float, close_t: float, out: PointOutcome, horizon: float
) -> dict[str, object]:
    n = out.arrivals.size
    wait = out.swab_start - out.arrivals
    row: dict[str, object] = {
        "point": point_id,
        "stations": stations,
        "residents": n,
        "tubes": int(out.tube_sealed.size),
        "open_h": open_t / 3600,
        "close_h": close_t / 3600,
    }
    if n == 0:
        row.update(first_arrival_h=np.nan, last_arrival_h=np.nan, last_swab_h=np.nan, last_seal_h=np.nan,
                   peak_queue=0, peak_queue_h=np.nan, mean_wait_min=np.nan, p95_wait_min=np.nan,
                   max_wait_min=np.nan, waited_over_30min=0.0, utilisation=0.0, unswabbed_at_horizon=0)  # fmt: skip
        return row
    # the line just after each arrival: arrivals so far minus swabs started by then
    after_arrival = np.arange(1, n + 1) - np.searchsorted(
        out.swab_start, out.arrivals, side="right"
    )
    peak = int(np.argmax(after_arrival))
    k95 = min(n - 1, int(np.ceil(0.95 * n)) - 1)  # the 95th percentile, nearest rank
    last_swab = float(out.swab_end.max())
    busy = float((out.swab_end - out.swab_start).sum())
    span = max(last_swab - open_t, 1e-9)
    row.update(
        first_arrival_h=float(out.arrivals[0]) / 3600,
        last_arrival_h=float(out.arrivals[-1]) / 3600,
        last_swab_h=last_swab / 3600,
        last_seal_h=float(out.tube_sealed[-1]) / 3600,
        peak_queue=int(after_arrival[peak]),
        peak_queue_h=float(out.arrivals[peak]) / 3600,
        mean_wait_min=float(wait.mean()) / 60,
        p95_wait_min=float(np.partition(wait, k95)[k95]) / 60,
        max_wait_min=float(wait.max()) / 60,
        waited_over_30min=float((wait > 1800).mean()),
        utilisation=busy / (stations * span),
        unswabbed_at_horizon=int((out.swab_end > horizon).sum()),
    )
    return row


def _queue_series(out: PointOutcome) -> tuple[np.ndarray, np.ndarray]:
    """People in line every QUEUE_STEP while the point has arrivals or a line."""
    if out.arrivals.size == 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    first = np.floor(out.arrivals[0] / QUEUE_STEP) * QUEUE_STEP
    last = np.ceil(out.swab_start[-1] / QUEUE_STEP) * QUEUE_STEP
    times = np.arange(first, last + QUEUE_STEP, QUEUE_STEP)
    return times, queue_lengths(out.arrivals, out.swab_start, times)
