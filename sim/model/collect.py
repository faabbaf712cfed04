"""Collection (采) at one sampling point, advanced arithmetically resident by resident.

Nothing downstream feeds back into a point's line, so a whole point is computed
in one pass over its residents (compiled with numba) instead of one SimPy
process per resident; the SimPy world only sees the tubes it produces. The
rules, which the per-resident SimPy reference model in the tests follows too:

* One FIFO line feeds ``c`` stations. The resident at the head goes to the
  station that has been free the longest (smallest free time; ties to the
  lowest station number) and starts at max(arrival, that station's free time).
* A station fills its current tube with ``pool`` consecutive residents; after the
  last of them it seals the tube (busy for that tube's tube-change time).
* Relief breaks: a break whose nominal time has come by the moment the station
  would start its next resident is taken first, from max(nominal, free) for the
  break's length (a busy station finishes its resident and any sealing first).
* Closing: residents who arrived before closing are all served. Afterwards each
  station with a part-filled tube takes any breaks still due before closing,
  then seals the tube at max(its free time, closing).

A round is run by :func:`collect_round`: points are drawn one after the other
and, every ~130,000 residents, the run of points drawn so far goes through
:func:`_collect_points`, one compiled call that serves each point
(:func:`serve_point`, the rules above), orders its tubes and computes its
statistics. Calling the kernel per point cost ~30 us of dispatch and Python per
point (3,800 points in a 10 M city); drawing a run just before it is served
keeps the draws in cache and lets their memory be reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..random import Streams
from ..scenario.schema import Scenario
from .demand import ZoneIndex, break_times, draw_point_demand

Arrays = tuple[np.ndarray, ...]  # what a kernel returns: several arrays, by position


@njit(cache=True)
def _apply_due_breaks(
    free: float, ready: float, breaks: np.ndarray, nxt: int, length: float
) -> tuple[float, int]:
    """Take every break due by the time the station could next start: max(ready, free)."""
    while nxt < breaks.size:
        b = breaks[nxt]
        if np.isnan(b) or b > max(ready, free):
            break
        free = max(b, free) + length
        nxt += 1
    return free, nxt


@njit(cache=True)
def serve_point(
    arrivals: np.ndarray,
    service: np.ndarray,
    stations: int,
    open_t: float,
    close_t: float,
    pool: int,
    tube_change: np.ndarray,
    breaks: np.ndarray,
    break_length: float,
) -> Arrays:
    """Swab start, station and tube of each resident; station, first swab, last swab end,
    seal time and size of each tube (tubes numbered in the order they were opened)."""
    n = arrivals.size
    start = np.empty(n)
    station_of = np.empty(n, np.int32)
    tube_of = np.empty(n, np.int64)
    max_tubes = n // pool + stations + 1
    t_station = np.empty(max_tubes, np.int32)
    t_first = np.empty(max_tubes)
    t_last = np.empty(max_tubes)
    t_sealed = np.empty(max_tubes)
    t_size = np.zeros(max_tubes, np.int32)
    free = np.full(stations, open_t)
    count = np.zeros(stations, np.int64)
    nxt = np.zeros(stations, np.int64)
    sealed_by = np.zeros(stations, np.int64)
    current = np.full(stations, -1, np.int64)
    # each station's next nominal break (inf when none is left): one comparison per station
    next_break = np.full(stations, np.inf)
    for j in range(stations):
        if breaks.shape[1] and not np.isnan(breaks[j, 0]):
            next_break[j] = breaks[j, 0]
    n_tubes = 0
    for i in range(n):
        a = arrivals[i]
        best = 0
        best_free = np.inf
        for j in range(stations):
            f = free[j]
            if next_break[j] <= max(a, f):
                f, nxt[j] = _apply_due_breaks(f, a, breaks[j], nxt[j], break_length)
                free[j] = f
                b = breaks[j, nxt[j]] if nxt[j] < breaks.shape[1] else np.nan
                next_break[j] = np.inf if np.isnan(b) else b
            if f < best_free:
                best_free = f
                best = j
        j = best
        t = max(a, best_free)
        start[i] = t
        station_of[i] = j
        if count[j] == 0:
            current[j] = n_tubes
            t_station[n_tubes] = j
            t_first[n_tubes] = t
            n_tubes += 1
        tube = current[j]
        tube_of[i] = tube
        end = t + service[i]
        t_last[tube] = end
        count[j] += 1
        t_size[tube] = count[j]
        if count[j] == pool:
            end += tube_change[j, sealed_by[j]]
            sealed_by[j] += 1
            t_sealed[tube] = end
            count[j] = 0
        free[j] = end
    for j in range(stations):
        if count[j] > 0:
            f, nxt[j] = _apply_due_breaks(free[j], close_t, breaks[j], nxt[j], break_length)
            t = max(f, close_t)
            t_sealed[current[j]] = t + tube_change[j, sealed_by[j]]
            sealed_by[j] += 1
            count[j] = 0
    return (
        start,
        station_of,
        tube_of,
        t_station[:n_tubes],
        t_first[:n_tubes],
        t_last[:n_tubes],
        t_sealed[:n_tubes],
        t_size[:n_tubes],
        free,
    )


@dataclass(frozen=True)
class PointOutcome:
    """What one point produced: per-resident times and its tubes ordered by seal time."""

    arrivals: np.ndarray
    swab_start: np.ndarray
    swab_end: np.ndarray
    station: np.ndarray
    tube: np.ndarray  # tube of each resident, as an index into the point's tubes below
    tube_station: np.ndarray
    tube_first: np.ndarray
    tube_last: np.ndarray
    tube_sealed: np.ndarray  # non-decreasing
    tube_size: np.ndarray


def collect(
    arrivals: np.ndarray,
    service: np.ndarray,
    stations: int,
    open_t: float,
    close_t: float,
    pool: int,
    tube_change: np.ndarray,
    breaks: np.ndarray,
    break_length: float,
) -> PointOutcome:
    """Run one point and order its tubes by seal time (ties by opening order)."""
    start, station, tube, t_station, t_first, t_last, t_sealed, t_size, _ = serve_point(
        np.ascontiguousarray(arrivals, dtype=np.float64),
        np.ascontiguousarray(service, dtype=np.float64),
        int(stations),
        float(open_t),
        float(close_t),
        int(pool),
        np.ascontiguousarray(tube_change, dtype=np.float64),
        np.ascontiguousarray(breaks, dtype=np.float64),
        float(break_length),
    )
    order = np.argsort(t_sealed, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return PointOutcome(
        arrivals=arrivals,
        swab_start=start,
        swab_end=start + service,
        station=station,
        tube=rank[tube],
        tube_station=t_station[order],
        tube_first=t_first[order],
        tube_last=t_last[order],
        tube_sealed=t_sealed[order],
        tube_size=t_size[order],
    )


@njit(cache=True)
def _select(values: np.ndarray, k: int) -> float:
    """The k-th smallest of ``values`` (0-based), reordering them in place (quickselect)."""
    lo = 0
    hi = values.size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        a, b, c = values[lo], values[mid], values[hi]
        pivot = max(min(a, b), min(max(a, b), c))  # median of three
        i, j = lo, hi
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return values[k]
    return values[k]


STAT_FIELDS = (
    "last_swab",
    "peak_queue",
    "peak_queue_at",
    "mean_wait",
    "p95_wait",
    "max_wait",
    "waited_over_30min",
    "busy",
    "unswabbed_at_horizon",
)


@njit(cache=True)
def point_statistics(
    arrivals: np.ndarray,
    start: np.ndarray,
    service: np.ndarray,
    step: float,
    horizon: float,
    swabbed_by_step: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queue and wait statistics of one point in one pass (seconds; see STAT_FIELDS).

    Also adds each resident's swab end to ``swabbed_by_step`` (index ceil(end / step),
    the last cell collecting everything later) and returns the people in line at
    every multiple of ``step`` while the point had arrivals or a line. ``start`` is
    non-decreasing (one FIFO line), so every count is a moving pointer.
    """
    n = arrivals.size
    stats = np.zeros(len(STAT_FIELDS))
    if n == 0:
        return stats, np.empty(0), np.empty(0, np.int64)
    last = swabbed_by_step.size - 1
    waits = np.empty(n)
    # swab starts padded with never-reached times, so that the count of starts by an
    # arrival advances by up to four comparisons added up instead of a loop whose
    # unpredictable exit cost a branch miss per resident (start is sorted, so the
    # comparisons that hold are a prefix)
    padded = np.empty(n + 4)
    padded[:n] = start
    padded[n:] = np.inf
    started = 0
    peak = -1
    peak_at = 0.0
    total_wait = 0.0
    max_wait = 0.0
    long_waits = 0
    busy = 0.0
    last_swab = -np.inf
    unswabbed = 0
    for i in range(n):
        a = arrivals[i]
        while True:
            advance = int(
                np.int64(padded[started] <= a)
                + np.int64(padded[started + 1] <= a)
                + np.int64(padded[started + 2] <= a)
                + np.int64(padded[started + 3] <= a)
            )
            started += advance
            if advance < 4:
                break
        if i + 1 - started > peak:
            peak = i + 1 - started
            peak_at = a
        w = start[i] - a
        waits[i] = w
        total_wait += w
        max_wait = max(max_wait, w)
        if w > 1800.0:
            long_waits += 1
        end = start[i] + service[i]
        busy += service[i]
        last_swab = max(last_swab, end)
        if end > horizon:
            unswabbed += 1
        cell = min(int(np.ceil(end / step)), last)
        swabbed_by_step[cell] += 1
    k95 = min(n - 1, int(np.ceil(0.95 * n)) - 1)  # nearest-rank 95th percentile
    stats[0] = last_swab
    stats[1] = peak
    stats[2] = peak_at
    stats[3] = total_wait / n
    stats[4] = _select(waits, k95)
    stats[5] = max_wait
    stats[6] = long_waits / n
    stats[7] = busy
    stats[8] = unswabbed
    first = np.floor(arrivals[0] / step) * step
    final = np.ceil(start[n - 1] / step) * step
    m = int((final - first) / step + 0.5) + 1
    times = first + step * np.arange(m)
    queue = np.empty(m, np.int64)
    arrived = 0
    begun = 0
    for k in range(m):
        t = times[k]
        while arrived < n and arrivals[arrived] <= t:
            arrived += 1
        while begun < n and start[begun] <= t:
            begun += 1
        queue[k] = arrived - begun
    return stats, times, queue


@njit(cache=True)
def _seal_order(sealed: np.ndarray) -> np.ndarray:
    """Tubes (numbered in opening order) ordered by seal time, ties by opening order.

    A stable insertion sort: tubes are sealed nearly in the order they were opened
    (a tube is out of place only among the few other stations' tubes), so this is
    linear in practice, where a general sort is not.
    """
    order = np.arange(sealed.size)
    for r in range(1, sealed.size):
        o = order[r]
        key = sealed[o]
        x = r
        while x > 0 and sealed[order[x - 1]] > key:
            order[x] = order[x - 1]
            x -= 1
        order[x] = o
    return order


@njit(cache=True)
def _collect_points(
    arrivals: np.ndarray,
    service: np.ndarray,
    bounds: np.ndarray,
    stations: np.ndarray,
    open_t: np.ndarray,
    close_t: np.ndarray,
    pool: np.ndarray,
    tube_change: np.ndarray,
    change_bounds: np.ndarray,
    fixed_change: np.ndarray,
    relief_every: np.ndarray,
    relief_stagger: np.ndarray,
    relief_for: np.ndarray,
    step: float,
    horizon: float,
    swabbed_by_step: np.ndarray,
    keep_residents: bool,
    tube_base: int,
) -> Arrays:
    """A run of points in one compiled call: :func:`serve_point`, tubes ordered by seal
    time and :func:`point_statistics`, point after point over concatenated arrays.

    Point p's residents are rows ``bounds[p]:bounds[p + 1]``; its tube-change times
    are ``tube_change[change_bounds[p]:change_bounds[p + 1]]`` (stations x tubes per
    station, row-major), or none when it is the constant ``fixed_change[p]``;
    ``relief_every[p] == 0`` means no breaks. Returns the
    tubes of all the points (point by point, each ordered by seal time, ties by
    opening order) and how many each point has; one row of STAT_FIELDS per point;
    the queue series of all points and their lengths; and, only when
    ``keep_residents``, each resident's swab start, station and tube (numbered
    from ``tube_base``).
    """
    n_points = bounds.size - 1
    n = arrivals.size if keep_residents else 0
    start = np.empty(n)
    station = np.empty(n, np.int32)
    tube = np.empty(n, np.int64)
    capacity = 0
    for p in range(n_points):
        capacity += (bounds[p + 1] - bounds[p]) // pool[p] + stations[p] + 1
    t_station = np.empty(capacity, np.int32)
    t_first = np.empty(capacity)
    t_last = np.empty(capacity)
    t_sealed = np.empty(capacity)
    t_size = np.empty(capacity, np.int32)
    tubes = np.zeros(n_points, np.int64)
    stats = np.zeros((n_points, len(STAT_FIELDS)))
    q_time = np.empty(64 * n_points + 1)
    q_count = np.empty(64 * n_points + 1, np.int64)
    q_length = np.zeros(n_points, np.int64)
    k_done = 0
    q_done = 0
    for p in range(n_points):
        lo, hi = bounds[p], bounds[p + 1]
        c = stations[p]
        if change_bounds[p + 1] > change_bounds[p]:
            drawn = tube_change[change_bounds[p] : change_bounds[p + 1]]
            changes = drawn.reshape((c, drawn.size // c))
        else:  # the size draw_point_demand gives
            changes = np.full((c, (hi - lo) // pool[p] + 2), fixed_change[p])
        if relief_every[p] > 0:
            breaks = break_times(c, open_t[p], close_t[p], relief_every[p], relief_stagger[p])
        else:
            breaks = np.full((c, 1), np.nan)
        a = arrivals[lo:hi]
        s = service[lo:hi]
        st, sta, tb, ts, tf, tl, tsl, tsz, _ = serve_point(
            a, s, c, open_t[p], close_t[p], pool[p], changes, breaks, relief_for[p]
        )
        order = _seal_order(tsl)
        k = order.size
        rank = np.empty(k, np.int64)
        for r in range(k):
            o = order[r]
            rank[o] = r
            t_station[k_done + r] = ts[o]
            t_first[k_done + r] = tf[o]
            t_last[k_done + r] = tl[o]
            t_sealed[k_done + r] = tsl[o]
            t_size[k_done + r] = tsz[o]
        if keep_residents:
            for r in range(hi - lo):
                start[lo + r] = st[r]
                station[lo + r] = sta[r]
                tube[lo + r] = tube_base + k_done + rank[tb[r]]
        tubes[p] = k
        k_done += k
        point_stats, times, queue = point_statistics(a, st, s, step, horizon, swabbed_by_step)
        stats[p] = point_stats
        m = times.size
        if q_done + m > q_time.size:  # grow the queue series' buffers
            size = max(2 * q_time.size, q_done + m)
            grown_t = np.empty(size)
            grown_t[:q_done] = q_time[:q_done]
            q_time = grown_t
            grown_q = np.empty(size, np.int64)
            grown_q[:q_done] = q_count[:q_done]
            q_count = grown_q
        q_time[q_done : q_done + m] = times
        q_count[q_done : q_done + m] = queue
        q_length[p] = m
        q_done += m
    return (
        t_station[:k_done],
        t_first[:k_done],
        t_last[:k_done],
        t_sealed[:k_done],
        t_size[:k_done],
        tubes,
        stats,
        q_time[:q_done],
        q_count[:q_done],
        q_length,
        start,
        station,
        tube,
    )


@dataclass(frozen=True)
class Collection:
    """Every point of one replication, concatenated in point order.

    Point i's tubes are rows ``tube_bounds[i]:tube_bounds[i + 1]`` of the per-tube
    arrays (ordered by seal time within the point, so the tube arrays are the
    ledger's tubes as they are), its queue series rows ``queue_bounds[i]:...``.
    Per-resident arrays (rows ``resident_bounds[i]:...``) are kept only when asked
    for: at 10 M residents they would be ~400 MB written for nothing.
    """

    residents: np.ndarray  # residents of each point
    tube_bounds: np.ndarray
    tube_station: np.ndarray
    tube_first: np.ndarray
    tube_last: np.ndarray
    tube_sealed: np.ndarray
    tube_size: np.ndarray
    stats: np.ndarray  # one row of STAT_FIELDS per point
    first_arrival: np.ndarray  # of each point (NaN when nobody came)
    last_arrival: np.ndarray
    queue_bounds: np.ndarray
    queue_time: np.ndarray
    queue: np.ndarray
    resident_bounds: np.ndarray
    arrivals: np.ndarray | None = None  # per resident, only when residents are kept
    service: np.ndarray | None = None
    swab_start: np.ndarray | None = None
    station: np.ndarray | None = None
    tube: np.ndarray | None = None  # the resident's tube, an index into the tube arrays
    zone: np.ndarray | None = None  # the resident's zone row

    def tubes_sealed(self, point_index: int) -> np.ndarray:
        """Seal times of point ``point_index``'s tubes (non-decreasing)."""
        return self.tube_sealed[self.tube_bounds[point_index] : self.tube_bounds[point_index + 1]]


CHUNK_RESIDENTS = 1 << 17  # points are drawn and run in runs of about this many residents


def collect_round(
    scenario: Scenario,
    streams: Streams,
    step: float,
    swabbed_by_step: np.ndarray,
    keep_residents: bool = False,
) -> Collection:
    """Draw every point's demand and run every point's line, a run of points at a time.

    The draws are those of :func:`~sim.model.demand.draw_point_demand` point by
    point, and each point's outcome is exactly :func:`collect` of them; what is
    saved is Python (one kernel call per run of points instead of a handful per
    point) and memory traffic: a run's draws (~2 MB) are still in cache when the
    kernel reads them, and their buffers are reused by the next run. Adds the
    swab ends to ``swabbed_by_step`` as :func:`point_statistics` does.
    """
    points = scenario.points
    start = scenario.round.start
    index = ZoneIndex(scenario)
    shares = scenario.demand.arrivals.shares
    n_points = len(points)
    default_window = scenario.demand.arrivals.window
    stations = np.array([p.stations for p in points], dtype=np.int64)
    pool = np.array([p.pool for p in points], dtype=np.int64)
    windows = [p.window or default_window for p in points]
    open_t = np.array([w.open - start for w in windows], dtype=np.float64)
    close_t = np.array([w.close - start for w in windows], dtype=np.float64)
    every = np.array([p.relief.every if p.relief else 0.0 for p in points], dtype=np.float64)
    stagger = np.array([bool(p.relief and p.relief.stagger) for p in points], dtype=np.bool_)
    relief_for = np.array([p.relief.for_ if p.relief else 0.0 for p in points], dtype=np.float64)
    fixed_change = np.array([p.tube_change.mean for p in points], dtype=np.float64)
    residents = np.zeros(n_points, np.int64)
    first_arrival = np.full(n_points, np.nan)
    last_arrival = np.full(n_points, np.nan)
    parts: list[tuple[np.ndarray, ...]] = []
    kept: list[tuple[np.ndarray, ...]] = []
    rng = np.random.Generator(np.random.PCG64(0))  # repositioned on each point's streams
    tube_base = 0
    first = 0
    arrivals: list[np.ndarray] = []
    service: list[np.ndarray] = []
    changes: list[np.ndarray] = []
    zones: list[np.ndarray] = []
    pending = 0
    for i, point in enumerate(points):
        demand = draw_point_demand(
            scenario, point, index.rows(i), streams, keep_residents,
            groups=index.groups(i), shares=shares, rng=rng, fill_fixed=False,
        )  # fmt: skip
        n = demand.arrivals.size
        residents[i] = n
        if n:
            first_arrival[i] = demand.arrivals[0]
            last_arrival[i] = demand.arrivals[-1]
        arrivals.append(demand.arrivals)
        service.append(demand.service)
        changes.append(demand.tube_change.ravel())
        if demand.zone is not None:
            zones.append(demand.zone)
        pending += n
        if pending < CHUNK_RESIDENTS and i + 1 < n_points:
            continue
        run = slice(first, i + 1)
        a = _concat(arrivals, np.float64)
        s = _concat(service, np.float64)
        out = _collect_points(
            a, s, _bounds(arrivals), stations[run], open_t[run], close_t[run], pool[run],
            _concat(changes, np.float64), _bounds(changes), fixed_change[run],
            every[run], stagger[run], relief_for[run],
            float(step), float(scenario.round.horizon), swabbed_by_step, keep_residents, tube_base,
        )  # fmt: skip
        parts.append(out[:10])
        tube_base += out[0].size
        if keep_residents:
            kept.append((a, s, *out[10:], _concat(zones, np.int64)))
        first, pending = i + 1, 0
        arrivals, service, changes, zones = [], [], [], []

    def joined(k: int, dtype: type) -> np.ndarray:
        return _concat([part[k] for part in parts], dtype)

    def kept_joined(k: int, dtype: type) -> np.ndarray | None:
        return _concat([part[k] for part in kept], dtype) if keep_residents else None

    return Collection(
        residents=residents,
        tube_bounds=_cumulative(joined(5, np.int64)),
        tube_station=joined(0, np.int32),
        tube_first=joined(1, np.float64),
        tube_last=joined(2, np.float64),
        tube_sealed=joined(3, np.float64),
        tube_size=joined(4, np.int32),
        stats=np.concatenate([part[6] for part in parts])
        if parts
        else np.zeros((0, len(STAT_FIELDS))),
        first_arrival=first_arrival,
        last_arrival=last_arrival,
        queue_bounds=_cumulative(joined(9, np.int64)),
        queue_time=joined(7, np.float64),
        queue=joined(8, np.int64),
        resident_bounds=_cumulative(residents),
        arrivals=kept_joined(0, np.float64),
        service=kept_joined(1, np.float64),
        swab_start=kept_joined(2, np.float64),
        station=kept_joined(3, np.int32),
        tube=kept_joined(4, np.int64),
        zone=kept_joined(5, np.int64),
    )


def _cumulative(counts: np.ndarray) -> np.ndarray:
    bounds = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=bounds[1:])
    return bounds


def _bounds(parts: list[np.ndarray]) -> np.ndarray:
    return _cumulative(np.array([a.size for a in parts], dtype=np.int64))


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)
