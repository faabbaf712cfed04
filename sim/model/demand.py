"""Who comes to each point, and when: participation and arrival-time draws.

Every draw for point P comes from streams named after P ("arrivals/P",
"service/P", "tube_change/P", and "zones/P/k" when residents are kept), so the
draws of one point do not depend on any other point, vehicle or lab (common
random numbers across scenario variants).

Arrivals: each zone sends Binomial(population, participation) residents. The
zones of a point that share one arrival window (a *group*) are drawn together:
the group's total is one Binomial(sum of populations, participation) draw, which
has exactly the law of the sum of the zones' binomials, and costs one draw
instead of one per zone (a city point has ~35 zones). Which zone each resident
came from is needed only when residents are kept: the split over zones, given
the total, is multivariate hypergeometric (again exactly the law of independent
binomials conditioned on their sum), drawn from a stream of its own.

A group's residents are spread over its window by the profile: a multinomial
split over equal slices of the window, uniform within a slice (a Poisson stream
given the count). The m uniform times of a slice are drawn directly in sorted
order, as the normalised partial sums of m + 1 standard exponentials (the
order statistics of m uniforms have that law), which replaces a sort by one
compiled pass. Resident i is the i-th to join the point's line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

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


@dataclass(frozen=True)
class ArrivalGroup:
    """The zones of one point sharing one arrival window (seconds from the round start)."""

    open: float
    close: float
    population: int  # the zones' total population
    zones: np.ndarray  # their rows in the zone table
    populations: np.ndarray  # and their populations, in that order
    #: the windows arrivals are spread over when the demand has several (seconds from the
    #: round start; empty: the one window open-close)
    windows: tuple[tuple[float, float], ...] = ()


class ZoneIndex:
    """Zones grouped by point, and by arrival window within a point, once per run."""

    def __init__(self, scenario: Scenario) -> None:
        zones = scenario.demand.zones
        self._scenario = scenario
        n_points = len(scenario.points)
        position = {p.id: i for i, p in enumerate(scenario.points)}
        codes = np.fromiter(map(position.__getitem__, zones.point), np.int64, len(zones))
        order = np.argsort(codes, kind="stable")
        self._bounds = np.searchsorted(codes[order], np.arange(n_points + 1))
        self._order = order
        self._groups: list[tuple[ArrivalGroup, ...] | None] = [None] * n_points
        if len(zones) and np.isnan(zones.open).all():
            # the common case: every zone uses the demand's window, one group a point
            window = scenario.demand.arrivals.span
            lo, hi = window.open - scenario.round.start, window.close - scenario.round.start
            several = demand_windows(scenario)
            pops = zones.population[order]
            # a point no zone names has no residents (reduceat would fail on its empty slice)
            totals = np.bincount(codes, weights=zones.population, minlength=n_points)
            for i in range(n_points):
                a, b = self._bounds[i], self._bounds[i + 1]
                self._groups[i] = (
                    (ArrivalGroup(lo, hi, int(totals[i]), order[a:b], pops[a:b], several),)
                    if b > a
                    else ()
                )

    def rows(self, point_index: int) -> np.ndarray:
        return self._order[self._bounds[point_index] : self._bounds[point_index + 1]]

    def groups(self, point_index: int) -> tuple[ArrivalGroup, ...]:
        """The point's arrival groups, ordered by (open, close)."""
        found = self._groups[point_index]
        if found is None:
            found = arrival_groups(self._scenario, self.rows(point_index))
            self._groups[point_index] = found
        return found


def arrival_groups(scenario: Scenario, zone_rows: np.ndarray) -> tuple[ArrivalGroup, ...]:
    """Group zones by arrival window (a zone's own, or the demand's), ordered by (open, close)."""
    zones = scenario.demand.zones
    start = scenario.round.start
    window = scenario.demand.arrivals.span
    several = demand_windows(scenario)
    opens = zones.open[zone_rows]
    closes = zones.close[zone_rows]
    default = np.isnan(opens)
    opens = np.where(default, window.open, opens) - start
    closes = np.where(default, window.close, closes) - start
    pops = zones.population[zone_rows]
    groups = []
    for lo, hi in np.unique(np.stack([opens, closes], axis=1), axis=0):
        members = (opens == lo) & (closes == hi)
        own = not (default & members).any()  # zones with a window of their own: that one
        groups.append(
            ArrivalGroup(
                float(lo),
                float(hi),
                int(pops[members].sum()),
                zone_rows[members],
                pops[members],
                () if own else several,
            )
        )
    return tuple(groups)


def demand_windows(scenario: Scenario) -> tuple[tuple[float, float], ...]:
    """The demand's windows, seconds from the round start, when it has several (else ())."""
    times = scenario.demand.arrivals.times
    if len(times) < 2:
        return ()
    start = scenario.round.start
    return tuple((a - start, b - start) for a, b in times)


def _window_shares(windows: tuple[tuple[float, float], ...], shares: np.ndarray) -> np.ndarray:
    """The profile over each window in turn, each window's share its length's."""
    lengths = np.array([b - a for a, b in windows])
    return np.concatenate([w * shares for w in lengths / lengths.sum()])


def draw_point_demand(
    scenario: Scenario,
    point: Point,
    zone_rows: np.ndarray,
    streams: Streams,
    keep_zone: bool = False,
    *,
    groups: tuple[ArrivalGroup, ...] | None = None,
    shares: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    fill_fixed: bool = True,
    closures: int = 0,
) -> PointDemand:
    """Draw arrivals, service and tube-change times for one point.

    ``groups`` (from :meth:`ZoneIndex.groups`) and ``shares`` (the profile's) may be
    passed to skip working them out again for every point, and ``rng`` (a PCG64
    generator) to be repositioned on each of the point's streams in turn instead
    of building one generator per stream; the draws are the same. With
    ``fill_fixed=False`` a fixed tube change comes back as a (stations, 0) array,
    for a caller that fills in the constant itself. ``closures``: the most closures of
    one station (each may seal a part-filled tube: one tube change more each).
    """

    def at(name: str) -> np.random.Generator:
        return streams[name] if rng is None else streams.seek(rng, name)

    arrivals_spec = scenario.demand.arrivals
    if groups is None:
        groups = arrival_groups(scenario, zone_rows)
    if shares is None:
        shares = arrivals_spec.shares
    draws = at(f"arrivals/{point.id}")
    participation = scenario.demand.participation
    counts = [int(draws.binomial(g.population, participation)) for g in groups]
    pieces: list[np.ndarray] = []
    for g, n in zip(groups, counts, strict=True):
        if n == 0:
            continue
        if g.windows:  # several windows: the profile over each, in turn
            pieces.append(_over_windows(n, g.windows, shares, arrivals_spec.spacing, draws))
        elif arrivals_spec.spacing == "even":
            pieces.append(_even(n, g.open, g.close, shares))
        else:
            per_slice = draws.multinomial(n, shares)
            spacings = draws.standard_exponential(n + shares.size)
            width = (g.close - g.open) / shares.size
            pieces.append(_sorted_uniforms(spacings, per_slice, g.open, width))
    order = None
    if len(pieces) == 1:
        arrivals = pieces[0]
    elif pieces:
        arrivals = np.concatenate(pieces)
        order = np.argsort(arrivals, kind="stable")
        arrivals = arrivals[order]
    else:
        arrivals = np.empty(0)

    zone = None
    if keep_zone:
        # which zone each resident came from: residents of one group are exchangeable, so
        # the split and its order come from a stream of their own (other draws unchanged)
        labels = []
        for k, (g, n) in enumerate(zip(groups, counts, strict=True)):
            if n == 0:
                continue
            zrng = streams[f"zones/{point.id}/{k}"]
            per_zone = zrng.multivariate_hypergeometric(g.populations, n)
            labels.append(zrng.permutation(np.repeat(g.zones, per_zone)))
        zone = np.concatenate(labels) if labels else np.empty(0, dtype=np.int64)
        if order is not None:
            zone = zone[order]

    n = arrivals.size
    service = point.service.sample(at(f"service/{point.id}"), n)
    per_station = n // point.pool + 2 + closures
    if point.tube_change.is_fixed:  # no draws, so no stream to set up
        columns = per_station if fill_fixed else 0
        tube_change = np.full((point.stations, columns), point.tube_change.mean)
    else:
        tube_change = point.tube_change.sample(
            at(f"tube_change/{point.id}"), point.stations * per_station
        ).reshape(point.stations, per_station)
    return PointDemand(arrivals, service, tube_change, zone)


@njit(cache=True)
def _sorted_uniforms(
    spacings: np.ndarray, per_slice: np.ndarray, lo: float, width: float
) -> np.ndarray:
    """Sorted arrival times: ``per_slice[k]`` uniform on [lo + k·width, lo + (k+1)·width).

    Slice k with m residents uses the next m + 1 standard exponentials E: its
    r-th time is at (E_1 + ... + E_r) / (E_1 + ... + E_{m+1}) of the slice, the
    law of the r-th smallest of m uniforms. Rounding can never put a time
    before the previous one (each is at least its predecessor).
    """
    out = np.empty(spacings.size - per_slice.size)
    i = 0
    j = 0
    previous = -np.inf
    for k in range(per_slice.size):
        m = per_slice[k]
        total = 0.0
        for r in range(m + 1):
            total += spacings[j + r]
        scale = width / total if total > 0 else 0.0
        base = lo + k * width
        partial = 0.0
        for r in range(m):
            partial += spacings[j + r]
            t = max(base + partial * scale, previous)
            out[i] = t
            previous = t
            i += 1
        j += m + 1
    return out


def _over_windows(
    n: int,
    windows: tuple[tuple[float, float], ...],
    shares: np.ndarray,
    spacing: str,
    draws: np.random.Generator,
) -> np.ndarray:
    """``n`` sorted arrival times over several windows: each window has the profile's
    slices, its share of the residents its length's share of the open time."""
    every = _window_shares(windows, shares)
    k = shares.size
    if spacing == "even":
        exact = n * every
        per_slice = np.floor(exact).astype(np.int64)
        short = n - int(per_slice.sum())
        if short:
            per_slice[np.argsort(-(exact - per_slice), kind="stable")[:short]] += 1
    else:
        per_slice = draws.multinomial(n, every)
        spacings = draws.standard_exponential(n + every.size)
    parts = []
    used = 0
    for w, (lo, hi) in enumerate(windows):
        counts = per_slice[w * k : (w + 1) * k]
        m = int(counts.sum())
        width = (hi - lo) / k
        if spacing == "even":
            parts += [
                lo + j * width + (np.arange(c) + 0.5) * width / c for j, c in enumerate(counts) if c
            ]
        else:
            take = m + k
            parts.append(_sorted_uniforms(spacings[used : used + take], counts, lo, width))
            used += take
    return np.concatenate(parts) if parts else np.empty(0)


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
