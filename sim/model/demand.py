"""Who comes to each point, and when: participation and arrival-time draws.

Every draw for point P comes from streams named after P ("arrivals/P",
"service/P", "tube_change/P"), so the draws of one point do not depend on any
other point, vehicle or lab (common random numbers across scenario variants).

Arrivals: each zone sends Binomial(population, participation) residents. The
residents of the zones sharing one arrival window are spread over it by the
profile: a multinomial split over equal slices of the window, uniform within a
slice. The result is sorted, so resident i is the i-th to join the point's line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..random import Streams
from ..scenario.schema import Point, Scenario


@dataclass(frozen=True)
class PointDemand:
    """The draws of one point in one replication (times in seconds from the round start)."""

    arrivals: np.ndarray  # sorted arrival time of each resident
    service: np.ndarray  # service time of each resident, in arrival order
    tube_change: (
        np.ndarray
    )  # (stations, tubes per station) sealing time of each station's m-th tube
    zone: np.ndarray | None  # zone row of each resident (only when residents are kept)


class ZoneIndex:
    """Zones grouped by point once per run: rows of the zone table for each point."""

    def __init__(self, scenario: Scenario) -> None:
        zones = scenario.demand.zones
        point_ids = [p.id for p in scenario.points]
        position = {pid: i for i, pid in enumerate(point_ids)}
        codes = np.fromiter((position[p] for p in zones.point), dtype=np.int64, count=len(zones))
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(point_ids) + 1))
        self._rows = [order[bounds[i] : bounds[i + 1]] for i in range(len(point_ids))]

    def rows(self, point_index: int) -> np.ndarray:
        return self._rows[point_index]


def draw_point_demand(
    scenario: Scenario,
    point: Point,
    zone_rows: np.ndarray,
    streams: Streams,
    keep_zone: bool = False,
) -> PointDemand:
    """Draw arrivals, service and tube-change times for one point."""
    zones = scenario.demand.zones
    start = scenario.round.start
    arrivals_spec = scenario.demand.arrivals
    shares = arrivals_spec.shares
    rng = streams[f"arrivals/{point.id}"]
    counts = rng.binomial(zones.population[zone_rows], scenario.demand.participation)
    opens = zones.open[zone_rows]
    closes = zones.close[zone_rows]
    default = np.isnan(opens)
    opens = np.where(default, arrivals_spec.window.open, opens) - start
    closes = np.where(default, arrivals_spec.window.close, closes) - start

    pieces: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    if not len(zone_rows):
        windows = np.empty((0, 2))
    elif default.all():  # the common case: every zone uses the demand's window
        windows = np.array([[opens[0], closes[0]]])
    else:
        windows = np.unique(np.stack([opens, closes], axis=1), axis=0)
    for lo, hi in windows:
        members = (opens == lo) & (closes == hi)
        n = int(counts[members].sum())
        if n == 0:
            continue
        if arrivals_spec.spacing == "even":
            pieces.append(_even(n, float(lo), float(hi), shares))
        else:
            pieces.append(_spread(rng, n, float(lo), float(hi), shares))
        if keep_zone:
            owners.append(np.repeat(zone_rows[members], counts[members]))
    if pieces:
        arrivals = np.concatenate(pieces)
        order = np.argsort(arrivals, kind="stable") if len(pieces) > 1 else None
        if order is not None:
            arrivals = arrivals[order]
    else:
        arrivals = np.empty(0)
        order = None

    zone = None
    if keep_zone:
        # which zone each resident came from: residents of one window are exchangeable,
        # so a permutation from a stream of its own (the other draws do not change)
        labels = [streams[f"zones/{point.id}/{k}"].permutation(o) for k, o in enumerate(owners)]
        zone = np.concatenate(labels) if labels else np.empty(0, dtype=np.int64)
        if order is not None:
            zone = zone[order]

    n = arrivals.size
    service = point.service.sample(streams[f"service/{point.id}"], n)
    per_station = n // point.pool + 2
    if point.tube_change.is_fixed:  # no draws, so no stream to set up
        tube_change = np.full((point.stations, per_station), point.tube_change.mean)
    else:
        tube_change = point.tube_change.sample(
            streams[f"tube_change/{point.id}"], point.stations * per_station
        ).reshape(point.stations, per_station)
    return PointDemand(arrivals, service, tube_change, zone)


def _spread(
    rng: np.random.Generator, n: int, lo: float, hi: float, shares: np.ndarray
) -> np.ndarray:
    """``n`` sorted arrival times over [lo, hi) following the profile's slice shares."""
    per_slice = rng.multinomial(n, shares)
    width = (hi - lo) / len(shares)
    parts = []
    for k, m in enumerate(per_slice):
        if m:
            parts.append(np.sort(rng.uniform(lo + k * width, lo + (k + 1) * width, m)))
    return np.concatenate(parts)


def _even(n: int, lo: float, hi: float, shares: np.ndarray) -> np.ndarray:
    """``n`` equally spaced arrival times per slice, slice counts by largest remainder."""
    exact = n * shares
    per_slice = np.floor(exact).astype(np.int64)
    short = n - int(per_slice.sum())
    if short:
        per_slice[np.argsort(-(exact - per_slice), kind="stable")[:short]] += 1
    width = (hi - lo) / len(shares)
    parts = [
        lo + k * width + (np.arange(m) + 0.5) * width / m for k, m in enumerate(per_slice) if m
    ]
    return np.concatenate(parts)


def break_schedule(point: Point, open_t: float, close_t: float) -> np.ndarray:
    """Nominal relief-break start times, one row per station, NaN-padded (seconds from start)."""
    relief = point.relief
    c = point.stations
    if relief is None:
        return np.full((c, 1), np.nan)
    every = relief.every
    offsets = (np.arange(c) * every / c) if relief.stagger else np.zeros(c)
    m = np.arange(1, int((close_t - open_t) // every) + 2)
    times = open_t + offsets[:, None] + every * m[None, :]
    return np.where(times < close_t, times, np.nan)  # NaN: no such break (rows stay sorted)
