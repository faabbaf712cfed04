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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


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
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]:
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
        while started < n and start[started] <= a:
            started += 1
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
    stats[4] = np.partition(waits, k95)[k95]
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
