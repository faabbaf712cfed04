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
* The station calendar (:mod:`sim.model.calendars`): an entry whose start has
  come by the moment the station would start its next resident is applied
  first. A relief break (``defer``) is taken from max(start, free) for its
  length; a closure (``finish``) keeps the station away until its end. Either
  way a busy station finishes its resident (and any sealing) first.
* Closing: residents who arrived before closing are all served. Afterwards each
  station with a part-filled tube applies the entries still due by closing,
  then seals the tube at max(its free time, closing).

A point can be served in pieces: :func:`serve_point` starts from a station
state (free times, the open tube, the next calendar entry, the tubes sealed so
far) and may stop before the first resident who would start at or after a
given time, leaving the state to carry on from. Serving a point in two pieces
gives exactly the times of serving it in one (the tests check it); that is how
a round is stopped and restarted (:mod:`sim.model.state`).

A round is run by :func:`collect_round`: points are drawn one after the other
and, every ~130,000 residents, the run of points drawn so far goes through
:func:`_collect_points`, one compiled call that serves each point, orders its
tubes and computes its statistics. Calling the kernel per point cost ~30 us of
dispatch and Python per point (3,800 points in a 10 M city); drawing a run just
before it is served keeps the draws in cache and lets their memory be reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from ..random import Streams
from ..scenario.schema import Scenario
from .calendars import DEFER, NO_CLOSURES, StationCalendar, station_calendar, station_closures
from .demand import ZoneIndex, draw_point_demand

INF = np.inf


@njit(cache=True)
def _apply_due_sealing(
    j: int,
    free: float,
    ready: float,
    starts: np.ndarray,
    lengths: np.ndarray,
    rules: np.ndarray,
    nxt: int,
    count: np.ndarray,
    current: np.ndarray,
    sealed_by: np.ndarray,
    tube_change: np.ndarray,
    t_sealed: np.ndarray,
) -> tuple[float, int]:
    """Apply every calendar entry of station ``j`` due by the time it could next start,
    max(ready, free): a break (``defer``) is taken in full once the station is free; a
    closure (``finish``: a pause, the end of a shift, the night between windows) lasts
    until it ends, and takes the station off duty: its staff first seal a part-filled
    tube, from when the closure starts (or their swab under way ends), and are away
    until the closure ends or the seal is done, whichever is later."""
    while nxt < starts.size:
        b = starts[nxt]
        if np.isnan(b) or b > max(ready, free):
            break
        if rules[nxt] == DEFER:
            free = max(b, free) + lengths[nxt]
        else:
            if count[j] > 0:
                sealed = max(free, b) + tube_change[j, sealed_by[j]]
                sealed_by[j] += 1
                t_sealed[current[j]] = sealed
                count[j] = 0
                current[j] = -1
                free = max(free, sealed)
            free = max(free, b + lengths[nxt])
        nxt += 1
    return free, nxt


@njit(cache=True)
def _next_entry(starts: np.ndarray, nxt: int) -> float:
    """When the station's next calendar entry starts (inf when none is left)."""
    if nxt < starts.size and not np.isnan(starts[nxt]):
        return starts[nxt]
    return INF


@njit(cache=True)
def serve_point(
    arrivals: np.ndarray,
    service: np.ndarray,
    close_t: float,
    pool: int,
    tube_change: np.ndarray,
    cal_start: np.ndarray,
    cal_length: np.ndarray,
    cal_rule: np.ndarray,
    free: np.ndarray,
    count: np.ndarray,
    current: np.ndarray,
    nxt: np.ndarray,
    sealed_by: np.ndarray,
    t_station: np.ndarray,
    t_first: np.ndarray,
    t_arrival: np.ndarray,
    t_last: np.ndarray,
    t_sealed: np.ndarray,
    t_size: np.ndarray,
    n_tubes: int,
    stop: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, bool]:
    """Serve ``arrivals`` (in line order) from the station state, while they start before ``stop``.

    The station state — ``free`` (when each station can next start), ``count``
    (residents in its open tube), ``current`` (that tube, or -1), ``nxt`` (its next
    calendar entry) and ``sealed_by`` (tubes it has sealed: the row of
    ``tube_change`` to use next) — and the tube arrays (tubes numbered in the
    order they were opened; ``t_sealed`` NaN while open; the first ``n_tubes``
    already exist) are updated in place. Returns each served resident's swab start,
    station and tube, how many were served, how many tubes there are, and whether
    the point is done (everyone served, every tube sealed).
    """
    n = arrivals.size
    stations = free.size
    start = np.empty(n)
    station_of = np.empty(n, np.int32)
    tube_of = np.empty(n, np.int64)
    # each station's next calendar entry (inf when none is left): one comparison per station
    next_entry = np.empty(stations)
    for j in range(stations):
        next_entry[j] = _next_entry(cal_start[j], nxt[j])
    served = 0
    for i in range(n):
        a = arrivals[i]
        best = 0
        best_free = INF
        for j in range(stations):
            f = free[j]
            if next_entry[j] <= max(a, f):
                f, nxt[j] = _apply_due_sealing(
                    j, f, a, cal_start[j], cal_length[j], cal_rule[j], nxt[j], count, current,
                    sealed_by, tube_change, t_sealed,
                )  # fmt: skip
                free[j] = f
                next_entry[j] = _next_entry(cal_start[j], nxt[j])
            if f < best_free:
                best_free = f
                best = j
        j = best
        t = max(a, best_free)
        if t >= stop:
            return start, station_of, tube_of, served, n_tubes, False
        start[i] = t
        station_of[i] = j
        if count[j] == 0:
            current[j] = n_tubes
            t_station[n_tubes] = j
            t_first[n_tubes] = t
            t_arrival[n_tubes] = a
            t_sealed[n_tubes] = np.nan
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
            current[j] = -1
        free[j] = end
        served += 1
    done = True
    for j in range(stations):
        if count[j] > 0:
            # the entries due by closing: a break delays the seal; a closure seals the tube
            # as the station goes off duty (when it is before closing)
            f = free[j]
            k = nxt[j]
            starts = cal_start[j]
            while count[j] > 0 and k < starts.size:
                b = starts[k]
                if np.isnan(b) or b > max(close_t, f):
                    break
                if cal_rule[j][k] == DEFER:
                    f = max(b, f) + cal_length[j][k]
                else:
                    if max(f, b) >= stop:  # the seal begins after the stop: it stays open
                        break
                    f, k = _apply_due_sealing(
                        j, f, b, starts, cal_length[j], cal_rule[j], k, count, current,
                        sealed_by, tube_change, t_sealed,
                    )  # fmt: skip
                    continue
                k += 1
            nxt[j] = k
            free[j] = f
            if count[j] == 0:
                continue
            t = max(f, close_t)
            if t >= stop:  # the seal begins after the stop: the tube stays open
                done = False
                continue
            t_sealed[current[j]] = t + tube_change[j, sealed_by[j]]
            sealed_by[j] += 1
            count[j] = 0
            current[j] = -1
    return start, station_of, tube_of, served, n_tubes, done


class PointOutcome(NamedTuple):
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
    tube_arrival: np.ndarray  # when the tube's first resident came


def collect(
    arrivals: np.ndarray,
    service: np.ndarray,
    stations: int,
    open_t: float,
    close_t: float,
    pool: int,
    tube_change: np.ndarray,
    calendar: StationCalendar,
) -> PointOutcome:
    """Run one point from opening to its last seal and order its tubes by seal time
    (ties by opening order)."""
    a = np.ascontiguousarray(arrivals, dtype=np.float64)
    # a closure can seal a part-filled tube: one more tube at most for each
    capacity = a.size // int(pool) + int(stations) + 1 + int((calendar.rule != DEFER).sum())
    free, count, current, nxt, sealed_by = fresh_stations(int(stations), float(open_t))
    t_station = np.empty(capacity, np.int32)
    t_first, t_last, t_sealed = np.empty(capacity), np.empty(capacity), np.empty(capacity)
    t_arrival = np.empty(capacity)
    t_size = np.zeros(capacity, np.int32)
    start, station, tube, _, k, _ = serve_point(
        a, np.ascontiguousarray(service, dtype=np.float64), float(close_t), int(pool),
        np.ascontiguousarray(tube_change, dtype=np.float64),
        np.ascontiguousarray(calendar.start, dtype=np.float64),
        np.ascontiguousarray(calendar.length, dtype=np.float64),
        np.ascontiguousarray(calendar.rule, dtype=np.int8),
        free, count, current, nxt, sealed_by, t_station, t_first, t_arrival, t_last, t_sealed,
        t_size, 0, INF,
    )  # fmt: skip
    order = _seal_order(t_sealed[:k])
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return PointOutcome(
        arrivals=arrivals,
        swab_start=start,
        swab_end=start + service,
        station=station,
        tube=rank[tube],
        tube_station=t_station[:k][order],
        tube_first=t_first[:k][order],
        tube_arrival=t_arrival[:k][order],
        tube_last=t_last[:k][order],
        tube_sealed=t_sealed[:k][order],
        tube_size=t_size[:k][order],
    )


def fresh_stations(
    stations: int, open_t: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The state of a point's stations at opening: free, count, current, nxt, sealed_by."""
    return (
        np.full(stations, open_t),
        np.zeros(stations, np.int64),
        np.full(stations, -1, np.int64),
        np.zeros(stations, np.int64),
        np.zeros(stations, np.int64),
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
# running sums a point's statistics are made of, carried from one piece of a point to the next
ACC_FIELDS = (
    "served", "last_swab", "peak_queue", "peak_queue_at", "total_wait", "max_wait",
    "long_waits", "busy", "unswabbed",
)  # fmt: skip
N_ACC = len(ACC_FIELDS)


@njit(cache=True)
def fresh_accumulators() -> np.ndarray:
    """The running sums of a point nobody has come to yet."""
    acc = np.zeros(N_ACC)
    acc[1] = -np.inf  # last swab
    acc[2] = -1.0  # peak queue: any first measurement beats it
    return acc


@njit(cache=True)
def point_statistics(
    arrivals: np.ndarray,
    start: np.ndarray,
    service: np.ndarray,
    served: int,
    step: float,
    horizon: float,
    swabbed_by_step: np.ndarray,
    acc: np.ndarray,
    prior_waits: np.ndarray,
    measure_from: float,
    measure_to: float,
    series_from: float,
    series_to: float,
    keep_waits: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Queue and wait statistics of one point in one pass (seconds; see STAT_FIELDS).

    The first ``served`` residents were swabbed (``start``, ``service``); any
    further ``arrivals`` are still in line. ``acc`` holds the running sums of the
    residents the point served before this piece (``prior_waits`` their waits, in
    line order) and is updated in place. The line is measured at the arrivals from
    ``measure_from`` to before ``measure_to``, and every multiple of ``step`` from ``series_from`` to
    ``series_to`` (people in line then); each swab end is added to
    ``swabbed_by_step`` (index ceil(end / step), the last cell collecting
    everything later). ``start`` is non-decreasing (one FIFO line), so every count
    is a moving pointer. Returns the statistics, the series, and (``keep_waits``)
    the waits of everyone served so far.
    """
    n = arrivals.size
    stats = np.zeros(len(STAT_FIELDS))
    last = swabbed_by_step.size - 1
    before = prior_waits.size
    waits = np.empty(before + served)
    waits[:before] = prior_waits
    # swab starts padded with never-reached times, so that the count of starts by an
    # arrival advances by up to four comparisons added up instead of a loop whose
    # unpredictable exit cost a branch miss per resident (start is sorted, so the
    # comparisons that hold are a prefix)
    padded = np.empty(served + 4)
    padded[:served] = start[:served]
    padded[served:] = np.inf
    started = 0
    peak = acc[2]
    peak_at = acc[3]
    total_wait = acc[4]
    max_wait = acc[5]
    long_waits = acc[6]
    busy = acc[7]
    last_swab = acc[1]
    unswabbed = acc[8]
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
        if measure_from <= a < measure_to and i + 1 - started > peak:
            peak = i + 1 - started
            peak_at = a
        if i >= served:
            continue
        w = start[i] - a
        waits[before + i] = w
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
    total = before + served
    acc[0] = total
    acc[1] = last_swab
    acc[2] = peak
    acc[3] = peak_at
    acc[4] = total_wait
    acc[5] = max_wait
    acc[6] = long_waits
    acc[7] = busy
    acc[8] = unswabbed
    kept = waits.copy() if keep_waits else np.empty(0)
    if total > 0:
        k95 = min(total - 1, int(np.ceil(0.95 * total)) - 1)  # nearest-rank 95th percentile
        stats[0] = last_swab
        stats[1] = max(peak, 0.0)
        stats[2] = peak_at
        stats[3] = total_wait / total
        stats[4] = _select(waits, k95)
        stats[5] = max_wait
        stats[6] = long_waits / total
        stats[7] = busy
        stats[8] = unswabbed
    else:
        stats[1] = max(peak, 0.0)
        stats[2] = peak_at
    if series_to < series_from:
        return stats, np.empty(0), np.empty(0, np.int64), kept
    m = int((series_to - series_from) / step + 0.5) + 1
    times = series_from + step * np.arange(m)
    queue = np.empty(m, np.int64)
    arrived = 0
    begun = 0
    for k in range(m):
        t = times[k]
        while arrived < n and arrivals[arrived] <= t:
            arrived += 1
        while begun < served and start[begun] <= t:
            begun += 1
        queue[k] = arrived - begun
    return stats, times, queue, kept


@njit(cache=True)
def series_bounds(
    arrivals: np.ndarray,
    start: np.ndarray,
    served: int,
    step: float,
    begin: float,
    stop: float,
    arrived_before: bool,
) -> tuple[float, float]:
    """The first and last grid times of a piece's queue series (first > last: none).

    A point served in one piece is sampled from the step at or before its first
    arrival to the step at or after its last swab start. A piece that stops with
    residents left covers the steps before ``stop``; a piece that resumes at
    ``begin`` covers the steps from then on (from the first arrival's step when
    nobody had come before ``begin``). Pieces together cover the same steps, with
    the same counts, as one piece would.
    """
    n = arrivals.size
    if n == 0:
        return 0.0, -1.0
    first = np.ceil(begin / step) * step if arrived_before else np.floor(arrivals[0] / step) * step
    if served == n:
        return first, np.ceil(start[n - 1] / step) * step
    if arrivals[0] >= stop:
        return 0.0, -1.0
    return first, (np.ceil(stop / step) - 1.0) * step


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
    closure_start: np.ndarray,
    closure_length: np.ndarray,
    closure_station: np.ndarray,
    closure_bounds: np.ndarray,
    resumed: bool,
    st_free: np.ndarray,
    st_count: np.ndarray,
    st_current: np.ndarray,
    st_nxt: np.ndarray,
    st_sealed: np.ndarray,
    tin_station: np.ndarray,
    tin_first: np.ndarray,
    tin_arrival: np.ndarray,
    tin_last: np.ndarray,
    tin_sealed: np.ndarray,
    tin_size: np.ndarray,
    tin_bounds: np.ndarray,
    acc: np.ndarray,
    waits_in: np.ndarray,
    waits_bounds: np.ndarray,
    arrived_before: np.ndarray,
    begin: float,
    stop: float,
    step: float,
    horizon: float,
    swabbed_by_step: np.ndarray,
    keep_residents: bool,
    keep_waits: bool,
    tube_base: int,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    np.ndarray, np.ndarray,
]:  # fmt: skip
    """A run of points in one compiled call: :func:`serve_point`, tubes ordered by seal
    time and :func:`point_statistics`, point after point over concatenated arrays.

    Point p's residents (those not yet swabbed) are rows ``bounds[p]:bounds[p + 1]``;
    its tube-change times are ``tube_change[change_bounds[p]:change_bounds[p + 1]]``
    (stations x tubes per station, row-major, drawn for all its residents), or none
    when it is the constant ``fixed_change[p]``; ``relief_every[p] == 0`` means no
    breaks; its closures are rows ``closure_bounds[p]:closure_bounds[p + 1]``.

    A fresh piece starts every point at opening; a ``resumed`` one from the
    stations' state (``st_*``, stations of all points one after the other), the
    tubes opened so far (``tin_*``, rows ``tin_bounds[p]:...``) and the running
    sums ``acc`` (updated in place; ``waits_in`` the waits so far) of a piece that
    stopped at ``begin``. Serving stops before the first resident who would
    start at ``stop`` or later. See :class:`CollectedRun` for what comes back.
    """
    n_points = bounds.size - 1
    n = arrivals.size if keep_residents else 0
    start = np.empty(n)
    station = np.empty(n, np.int32)
    tube = np.empty(n, np.int64)
    st_off = np.zeros(n_points + 1, np.int64)
    for p in range(n_points):
        st_off[p + 1] = st_off[p] + stations[p]
    capacity = 0
    for p in range(n_points):
        capacity += (bounds[p + 1] - bounds[p]) // pool[p] + stations[p] + 1
        capacity += tin_bounds[p + 1] - tin_bounds[p] if resumed else 0
    t_station = np.empty(capacity, np.int32)
    t_first = np.empty(capacity)
    t_arrival = np.empty(capacity)
    t_last = np.empty(capacity)
    t_sealed = np.empty(capacity)
    t_size = np.empty(capacity, np.int32)
    tubes = np.zeros(n_points, np.int64)
    done = np.zeros(n_points, np.bool_)
    served_out = np.zeros(n_points, np.int64)
    stats = np.zeros((n_points, len(STAT_FIELDS)))
    out_free = np.empty(st_off[n_points])
    out_count = np.empty(st_off[n_points], np.int64)
    out_current = np.empty(st_off[n_points], np.int64)
    out_nxt = np.empty(st_off[n_points], np.int64)
    out_sealed = np.empty(st_off[n_points], np.int64)
    w_length = np.zeros(n_points, np.int64)
    w_total = 0
    if keep_waits:
        for p in range(n_points):
            w_total += bounds[p + 1] - bounds[p]
            w_total += waits_bounds[p + 1] - waits_bounds[p] if resumed else 0
    w_out = np.empty(w_total)
    w_done = 0
    q_time = np.empty(64 * n_points + 1)
    q_count = np.empty(64 * n_points + 1, np.int64)
    q_length = np.zeros(n_points, np.int64)
    k_done = 0
    q_done = 0
    for p in range(n_points):
        lo, hi = bounds[p], bounds[p + 1]
        c = stations[p]
        if resumed:
            a0, a1 = st_off[p], st_off[p + 1]
            free = st_free[a0:a1].copy()
            count = st_count[a0:a1].copy()
            current = st_current[a0:a1].copy()
            nxt = st_nxt[a0:a1].copy()
            sealed_by = st_sealed[a0:a1].copy()
            before = tin_bounds[p + 1] - tin_bounds[p]
            prior_waits = waits_in[waits_bounds[p] : waits_bounds[p + 1]]
        else:
            free = np.full(c, open_t[p])
            count = np.zeros(c, np.int64)
            current = np.full(c, -1, np.int64)
            nxt = np.zeros(c, np.int64)
            sealed_by = np.zeros(c, np.int64)
            before = 0
            prior_waits = np.empty(0)
        c0, c1 = closure_bounds[p], closure_bounds[p + 1]
        if change_bounds[p + 1] > change_bounds[p]:
            drawn = tube_change[change_bounds[p] : change_bounds[p + 1]]
            changes = drawn.reshape((c, drawn.size // c))
        else:  # the size draw_point_demand gives, for everyone the point will serve
            total = hi - lo + int(acc[p, 0])
            changes = np.full((c, total // pool[p] + 2 + int(c1 - c0)), fixed_change[p])
        cal_start, cal_length, cal_rule = station_calendar(
            c, open_t[p], close_t[p], relief_every[p], relief_stagger[p], relief_for[p],
            closure_start[c0:c1], closure_length[c0:c1], closure_station[c0:c1],
        )  # fmt: skip
        # a closure can seal a part-filled tube: one more tube at most for each
        room = (hi - lo) // pool[p] + c + 1 + before + int(c1 - c0)
        ts = np.empty(room, np.int32)
        tf = np.empty(room)
        ta = np.empty(room)
        tl = np.empty(room)
        tsl = np.empty(room)
        tsz = np.zeros(room, np.int32)
        if resumed:
            b0 = tin_bounds[p]
            ts[:before] = tin_station[b0 : b0 + before]
            tf[:before] = tin_first[b0 : b0 + before]
            ta[:before] = tin_arrival[b0 : b0 + before]
            tl[:before] = tin_last[b0 : b0 + before]
            tsl[:before] = tin_sealed[b0 : b0 + before]
            tsz[:before] = tin_size[b0 : b0 + before]
        a = arrivals[lo:hi]
        s = service[lo:hi]
        st, sta, tb, served, k, finished = serve_point(
            a, s, close_t[p], pool[p], changes, cal_start, cal_length, cal_rule,
            free, count, current, nxt, sealed_by, ts, tf, ta, tl, tsl, tsz, before, stop,
        )  # fmt: skip
        done[p] = finished
        served_out[p] = served
        # a piece that stopped keeps its tubes in the order they were opened
        order = _seal_order(tsl[:k]) if finished else np.arange(k)
        rank = np.empty(k, np.int64)
        for r in range(k):
            o = order[r]
            rank[o] = r
            t_station[k_done + r] = ts[o]
            t_first[k_done + r] = tf[o]
            t_arrival[k_done + r] = ta[o]
            t_last[k_done + r] = tl[o]
            t_sealed[k_done + r] = tsl[o]
            t_size[k_done + r] = tsz[o]
        if keep_residents:
            for r in range(served):
                start[lo + r] = st[r]
                station[lo + r] = sta[r]
                tube[lo + r] = tube_base + k_done + rank[tb[r]]
            for r in range(served, hi - lo):
                start[lo + r] = np.nan
                station[lo + r] = -1
                tube[lo + r] = -1
        tubes[p] = k
        k_done += k
        s0 = st_off[p]
        out_free[s0 : s0 + c] = free
        out_count[s0 : s0 + c] = count
        out_current[s0 : s0 + c] = current
        out_nxt[s0 : s0 + c] = nxt
        out_sealed[s0 : s0 + c] = sealed_by
        came_before = resumed and arrived_before[p]
        first_t, last_t = series_bounds(a, st, served, step, begin, stop, came_before)
        point_stats, times, queue, waits = point_statistics(
            a, st, s, served, step, horizon, swabbed_by_step, acc[p], prior_waits,
            begin, stop, first_t, last_t, keep_waits,
        )  # fmt: skip
        stats[p] = point_stats
        if keep_waits:
            w_out[w_done : w_done + waits.size] = waits
            w_length[p] = waits.size
            w_done += waits.size
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
        t_station[:k_done], t_first[:k_done], t_last[:k_done], t_sealed[:k_done],
        t_size[:k_done], t_arrival[:k_done], tubes, stats, q_time[:q_done], q_count[:q_done], q_length,
        start, station, tube, done, served_out, out_free, out_count, out_current, out_nxt,
        out_sealed, w_out[:w_done], w_length,
    )  # fmt: skip


class CollectedRun(NamedTuple):
    """What :func:`_collect_points` returns for a run of points, by name."""

    tube_station: np.ndarray
    tube_first: np.ndarray
    tube_last: np.ndarray
    tube_sealed: np.ndarray  # NaN for a tube still open when the piece stopped
    tube_size: np.ndarray
    tube_arrival: np.ndarray  # when the tube's first resident came
    tubes: np.ndarray  # per point; each point's tubes in seal order (opening order if not done)
    stats: np.ndarray  # one row of STAT_FIELDS per point
    queue_time: np.ndarray
    queue: np.ndarray
    queue_length: np.ndarray  # per point
    swab_start: np.ndarray  # per resident, only when residents are kept (NaN: not served)
    station: np.ndarray
    tube: np.ndarray
    done: np.ndarray  # per point: everyone served and every tube sealed
    served: np.ndarray  # per point: residents served in this piece
    free: np.ndarray  # per station of every point, one after the other: the station state
    filling: np.ndarray  # residents in the open tube
    current: np.ndarray
    nxt: np.ndarray
    sealed_by: np.ndarray
    waits: np.ndarray  # only when kept: the waits of everyone served so far, point by point
    waits_length: np.ndarray


@dataclass(frozen=True)
class Collection:
    """Every point of one replication, concatenated in point order.

    Point i's tubes are rows ``tube_bounds[i]:tube_bounds[i + 1]`` of the per-tube
    arrays (ordered by seal time within the point, so the tube arrays are the
    ledger's tubes as they are), its queue series rows ``queue_bounds[i]:...``.
    Per-resident arrays (rows ``resident_bounds[i]:...``) are kept only when asked
    for: at 10 M residents they would be ~400 MB written for nothing. A
    collection that stopped early (``state`` set) has, per point, the tubes
    opened so far in the order they were opened (``tube_sealed`` NaN while open).
    """

    residents: np.ndarray  # residents of each point
    tube_bounds: np.ndarray
    tube_station: np.ndarray
    tube_first: np.ndarray
    tube_last: np.ndarray
    tube_sealed: np.ndarray
    tube_size: np.ndarray
    tube_arrival: np.ndarray  # when each tube's first resident came
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
    state: CollectionState | None = None  # the stations and lines, when stopped early

    def tubes_sealed(self, point_index: int) -> np.ndarray:
        """Seal times of point ``point_index``'s tubes (non-decreasing)."""
        return self.tube_sealed[self.tube_bounds[point_index] : self.tube_bounds[point_index + 1]]


@dataclass(frozen=True)
class CollectionState:
    """Every point's stations and line at ``time`` (seconds from the start): what a
    collection that stopped then hands to the one that carries on.

    Per point: ``started`` residents had begun their swab, ``arrived`` had come
    (the difference is the line, whose arrival times are ``line`` rows
    ``line_bounds[i]:...``). Per station (all points' stations one after the
    other, ``station_bounds``): when it is next free, the residents in its open
    tube and that tube (an index into the point's tubes, -1 none), its next
    calendar entry and the tubes it has sealed. Per point, the tubes opened so
    far in the order they were opened (rows ``tube_bounds[i]:...``; seal time NaN
    while open), the running sums of its statistics (``ACC_FIELDS``) and the
    waits of those served. ``swabbed`` counts the swabs done by each step of the
    timeline.
    """

    time: float
    started: np.ndarray
    arrived: np.ndarray
    line_bounds: np.ndarray
    line: np.ndarray
    station_bounds: np.ndarray
    free: np.ndarray
    count: np.ndarray
    current: np.ndarray
    nxt: np.ndarray
    sealed_by: np.ndarray
    tube_bounds: np.ndarray
    tube_station: np.ndarray
    tube_first: np.ndarray
    tube_last: np.ndarray
    tube_sealed: np.ndarray
    tube_size: np.ndarray
    tube_arrival: np.ndarray
    acc: np.ndarray
    waits_bounds: np.ndarray
    waits: np.ndarray
    swabbed: np.ndarray


CHUNK_RESIDENTS = 1 << 17  # points are drawn and run in runs of about this many residents


def collect_round(
    scenario: Scenario,
    streams: Streams,
    step: float,
    swabbed_by_step: np.ndarray,
    keep_residents: bool = False,
    *,
    stop: float = INF,
    resume: CollectionState | None = None,
    redraw: bool = False,
) -> Collection:
    """Draw every point's demand and run every point's line, a run of points at a time.

    The draws are those of :func:`~sim.model.demand.draw_point_demand` point by
    point, and each point's outcome is exactly :func:`collect` of them; what is
    saved is Python (one kernel call per run of points instead of a handful per
    point) and memory traffic: a run's draws (~2 MB) are still in cache when the
    kernel reads them, and their buffers are reused by the next run. Adds the
    swab ends to ``swabbed_by_step`` as :func:`point_statistics` does.

    With ``stop``, serving stops before the first resident of each point who
    would start at ``stop`` or later, and the collection carries the state
    (:class:`CollectionState`); ``resume`` carries on from such a state (drawn
    from the same streams, the residents who had begun are left out).

    With ``redraw`` (a nowcast: the state is another replication's, or was observed)
    the residents still to come are drawn afresh: those in the state's line, at
    their arrival times, then those of this replication's own draw who arrive at
    or after the state's time; every one of them gets a swab time from the
    stream ``service/<point>/after``. Arrivals in disjoint stretches of the
    profile are independent draws, so this is the round's own law from then on.
    """
    points = scenario.points
    start = scenario.round.start
    index = ZoneIndex(scenario)
    shares = scenario.demand.arrivals.shares
    n_points = len(points)
    default_window = scenario.demand.arrivals.span
    stations = np.array([p.stations for p in points], dtype=np.int64)
    pool = np.array([p.pool for p in points], dtype=np.int64)
    windows = [p.window or default_window for p in points]
    open_t = np.array([w.open - start for w in windows], dtype=np.float64)
    close_t = np.array([w.close - start for w in windows], dtype=np.float64)
    every = np.array([p.relief.every if p.relief else 0.0 for p in points], dtype=np.float64)
    stagger = np.array([bool(p.relief and p.relief.stagger) for p in points], dtype=np.bool_)
    relief_for = np.array([p.relief.for_ if p.relief else 0.0 for p in points], dtype=np.float64)
    fixed_change = np.array([p.tube_change.mean for p in points], dtype=np.float64)
    closures = station_closures(scenario)
    station_bounds = _cumulative(stations)
    stopping = stop < INF
    residents = np.zeros(n_points, np.int64)
    first_arrival = np.full(n_points, np.nan)
    last_arrival = np.full(n_points, np.nan)
    parts: list[CollectedRun] = []
    acc_rows: list[np.ndarray] = []
    kept: list[tuple[np.ndarray, ...]] = []
    lines: list[np.ndarray] = []
    arrived = np.zeros(n_points, np.int64)
    rng = np.random.Generator(np.random.PCG64(0))  # repositioned on each point's streams
    tube_base = 0
    first = 0
    arrivals: list[np.ndarray] = []
    service: list[np.ndarray] = []
    changes: list[np.ndarray] = []
    zones: list[np.ndarray] = []
    pending = 0
    for i, point in enumerate(points):
        shut_i = closures.get(i)
        most_shut = int(np.bincount(shut_i.station).max()) if shut_i is not None else 0
        demand = draw_point_demand(
            scenario, point, index.rows(i), streams, keep_residents,
            groups=index.groups(i), shares=shares, rng=rng, fill_fixed=False,
            closures=most_shut,
        )  # fmt: skip
        n = demand.arrivals.size
        residents[i] = n
        if n:
            first_arrival[i] = demand.arrivals[0]
            last_arrival[i] = demand.arrivals[-1]
        if resume is not None and redraw:
            line = resume.line[resume.line_bounds[i] : resume.line_bounds[i + 1]]
            later = demand.arrivals[np.searchsorted(demand.arrivals, resume.time, "left") :]
            still = np.concatenate([line, later])
            arrivals.append(still)
            service.append(point.service.sample(streams[f"service/{point.id}/after"], still.size))
            residents[i] = int(resume.started[i]) + still.size
            begun = n - still.size  # for the count of residents still to come
        else:
            begun = int(resume.started[i]) if resume is not None else 0
            arrivals.append(demand.arrivals[begun:])
            service.append(demand.service[begun:])
        changes.append(demand.tube_change.ravel())
        if demand.zone is not None:
            zones.append(demand.zone[begun:])
        pending += n - begun
        if pending < CHUNK_RESIDENTS and i + 1 < n_points:
            continue
        run = slice(first, i + 1)
        carried = _resume_arrays(resume, run, station_bounds)
        acc_rows.append(carried.acc)
        a = _concat(arrivals, np.float64)
        s = _concat(service, np.float64)
        shut = [closures.get(k, NO_CLOSURES) for k in range(first, i + 1)]
        out = CollectedRun._make(
            _collect_points(
                a, s, _bounds(arrivals), stations[run], open_t[run], close_t[run], pool[run],
                _concat(changes, np.float64), _bounds(changes), fixed_change[run],
                every[run], stagger[run], relief_for[run],
                _concat([c.start for c in shut], np.float64),
                _concat([c.length for c in shut], np.float64),
                _concat([c.station for c in shut], np.int64),
                _bounds([c.station for c in shut]),
                *carried,
                float(resume.time) if resume is not None else -INF, float(stop),
                float(step), float(scenario.round.horizon), swabbed_by_step, keep_residents,
                stopping, tube_base,
            )
        )  # fmt: skip
        parts.append(out)
        tube_base += out.tube_station.size
        if keep_residents:
            kept.append((a, s, out.swab_start, out.station, out.tube, _concat(zones, np.int64)))
        if stopping:  # the line at the stop: not served in this piece, arrived before the stop
            for p, part_arrivals in enumerate(arrivals):
                waiting = part_arrivals[out.served[p] :]
                waiting = waiting[waiting < stop]
                lines.append(waiting)
                before = int(resume.started[first + p]) if resume is not None else 0
                arrived[first + p] = before + int(out.served[p]) + waiting.size
        first, pending = i + 1, 0
        arrivals, service, changes, zones = [], [], [], []

    def joined(name: str, dtype: type) -> np.ndarray:
        return _concat([getattr(part, name) for part in parts], dtype)

    def kept_joined(k: int, dtype: type) -> np.ndarray | None:
        return _concat([part[k] for part in kept], dtype) if keep_residents else None

    tube_bounds = _cumulative(joined("tubes", np.int64))
    tube_station = joined("tube_station", np.int32)
    tube_first = joined("tube_first", np.float64)
    tube_last = joined("tube_last", np.float64)
    tube_sealed = joined("tube_sealed", np.float64)
    tube_size = joined("tube_size", np.int32)
    tube_arrival = joined("tube_arrival", np.float64)
    state = None
    if stopping:
        began = joined("served", np.int64)
        if resume is not None:
            began = began + resume.started
        acc = np.concatenate(acc_rows) if acc_rows else np.zeros((0, N_ACC))
        state = CollectionState(
            time=float(stop),
            started=began,
            arrived=arrived,
            line_bounds=_bounds(lines),
            line=_concat(lines, np.float64),
            station_bounds=station_bounds,
            free=joined("free", np.float64),
            count=joined("filling", np.int64),
            current=joined("current", np.int64),
            nxt=joined("nxt", np.int64),
            sealed_by=joined("sealed_by", np.int64),
            tube_bounds=tube_bounds,
            tube_station=tube_station,
            tube_first=tube_first,
            tube_last=tube_last,
            tube_sealed=tube_sealed,
            tube_size=tube_size,
            tube_arrival=tube_arrival,
            acc=acc,
            waits_bounds=_cumulative(joined("waits_length", np.int64)),
            waits=joined("waits", np.float64),
            swabbed=swabbed_by_step.copy(),
        )
    return Collection(
        residents=residents,
        tube_bounds=tube_bounds,
        tube_station=tube_station,
        tube_first=tube_first,
        tube_last=tube_last,
        tube_sealed=tube_sealed,
        tube_size=tube_size,
        tube_arrival=tube_arrival,
        stats=np.concatenate([part.stats for part in parts])
        if parts
        else np.zeros((0, len(STAT_FIELDS))),
        first_arrival=first_arrival,
        last_arrival=last_arrival,
        queue_bounds=_cumulative(joined("queue_length", np.int64)),
        queue_time=joined("queue_time", np.float64),
        queue=joined("queue", np.int64),
        resident_bounds=_cumulative(residents),
        arrivals=kept_joined(0, np.float64),
        service=kept_joined(1, np.float64),
        swab_start=kept_joined(2, np.float64),
        station=kept_joined(3, np.int32),
        tube=kept_joined(4, np.int64),
        zone=kept_joined(5, np.int64),
        state=state,
    )


_EMPTY_F = np.empty(0)
_EMPTY_I = np.empty(0, np.int64)
_EMPTY_I32 = np.empty(0, np.int32)


class _Resume(NamedTuple):
    """The resumed-state arguments of :func:`_collect_points` for a run of points, in order."""

    resumed: bool
    free: np.ndarray
    filling: np.ndarray
    current: np.ndarray
    nxt: np.ndarray
    sealed_by: np.ndarray
    tube_station: np.ndarray
    tube_first: np.ndarray
    tube_arrival: np.ndarray
    tube_last: np.ndarray
    tube_sealed: np.ndarray
    tube_size: np.ndarray
    tube_bounds: np.ndarray
    acc: np.ndarray  # updated in place by the kernel: the running sums after the piece
    waits: np.ndarray
    waits_bounds: np.ndarray
    arrived_before: np.ndarray


def _resume_arrays(
    resume: CollectionState | None, run: slice, station_bounds: np.ndarray
) -> _Resume:
    """What :func:`_collect_points` needs to carry on from ``resume`` (or start afresh)."""
    n = run.stop - run.start
    if resume is None:
        zero = np.zeros(n + 1, np.int64)
        return _Resume(
            False, _EMPTY_F, _EMPTY_I, _EMPTY_I, _EMPTY_I, _EMPTY_I,
            _EMPTY_I32, _EMPTY_F, _EMPTY_F, _EMPTY_F, _EMPTY_F, _EMPTY_I32, zero,
            np.tile(fresh_accumulators(), (n, 1)), _EMPTY_F, zero, np.zeros(n, np.bool_),
        )  # fmt: skip
    s0, s1 = station_bounds[run.start], station_bounds[run.stop]
    t0, t1 = resume.tube_bounds[run.start], resume.tube_bounds[run.stop]
    w0, w1 = resume.waits_bounds[run.start], resume.waits_bounds[run.stop]
    return _Resume(
        True,
        resume.free[s0:s1], resume.count[s0:s1], resume.current[s0:s1], resume.nxt[s0:s1],
        resume.sealed_by[s0:s1],
        resume.tube_station[t0:t1], resume.tube_first[t0:t1], resume.tube_arrival[t0:t1],
        resume.tube_last[t0:t1],
        resume.tube_sealed[t0:t1], resume.tube_size[t0:t1],
        resume.tube_bounds[run.start : run.stop + 1] - t0,
        resume.acc[run].copy(), resume.waits[w0:w1],
        resume.waits_bounds[run.start : run.stop + 1] - w0,
        resume.arrived[run] > 0,
    )  # fmt: skip


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
