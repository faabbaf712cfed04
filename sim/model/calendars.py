"""Availability calendars: when each server is out of service, and what becomes of work under way.

Every kind of server has one: the stations of a sampling point, the staff and
instruments of each lab stage, the vehicles. An entry says from when, for how
long, how many units, and by which rule work under way is treated:

* ``defer`` (relief breaks): the unit finishes the job under way, then is away
  for the entry's full length, from the moment it is free (a break due by the
  end of another is taken straight after it);
* ``finish`` (a closure, a shift gap, an outage): the unit finishes the job
  under way, then is away until the entry's end (it may be back at once, if the
  job ran past the end);
* ``resume`` (an interruption): the job under way stops when the entry starts
  and carries on, with the time it still needed, when the unit is back.

Relief breaks, a lab's opening time and the scenario's ``disruptions:`` are
all entries of these calendars, built here once per scenario; the collection
kernel (:mod:`sim.model.collect`), the labs (:mod:`sim.model.lab`) and the
vehicles (:mod:`sim.model.transport`) apply them. A disruption of ``units`` of
a point's stations or of a lab stage takes the highest-numbered units out.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
from numba import njit

from ..random import Streams
from ..scenario.schema import Failures, Point, Scenario, Window, roster
from .draws import durations

DEFER, FINISH, RESUME = 0, 1, 2
MAX_BREAKDOWNS = 10_000  # of one unit in one round: more is a mistake in the units
RULES = {"defer": DEFER, "finish": FINISH, "resume": RESUME}


class StationCalendar(NamedTuple):
    """The calendar of a point's stations: row j is station j's entries, sorted by start.

    ``start`` is NaN-padded (seconds from the round start); ``length`` is how long
    the station is away (``defer``) or the entry lasts (``finish``).
    """

    start: np.ndarray  # (stations, entries)
    length: np.ndarray
    rule: np.ndarray  # int8: DEFER or FINISH


class Closures(NamedTuple):
    """Closures of some of a point's stations (from ``disruptions:``), one row per station."""

    start: np.ndarray
    length: np.ndarray
    station: np.ndarray  # int64


NO_CLOSURES = Closures(np.empty(0), np.empty(0), np.empty(0, np.int64))


class PoolEntry(NamedTuple):
    """``units`` of a lab stage out of service from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    units: int
    rule: int  # FINISH or RESUME


class VehicleEntry(NamedTuple):
    """A vehicle out of service from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    rule: int


@njit(cache=True)
def break_times(
    stations: int, open_t: float, close_t: float, every: float, stagger: bool
) -> np.ndarray:
    """Break m (1, 2, ...) of station j at open + j·every/c + m·every (offset 0 unstaggered),
    one row per station; NaN where that time is not before closing (rows stay sorted).
    Compiled so the collection kernel builds every point's schedule without Python."""
    columns = max(int((close_t - open_t) // every) + 1, 0)
    out = np.empty((stations, columns))
    for j in range(stations):
        offset = j * every / stations if stagger else 0.0
        for m in range(columns):
            t = open_t + offset + every * (m + 1)
            out[j, m] = t if t < close_t else np.nan
    return out


@njit(cache=True)
def station_calendar(
    stations: int,
    open_t: float,
    close_t: float,
    every: float,
    stagger: bool,
    break_length: float,
    closure_start: np.ndarray,
    closure_length: np.ndarray,
    closure_station: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A point's station calendar: its relief breaks (``every`` 0: none) and closures.

    Each station's entries are sorted by start, a break before a closure that
    starts at the same moment. A break due while the station is closed (a pause,
    the night between two windows) is not taken: the staff rested. Without
    closures the rows are exactly the break schedule of :func:`break_times`.
    """
    none = np.full((stations, 0), np.nan)
    breaks = break_times(stations, open_t, close_t, every, stagger) if every > 0 else none
    per_station = np.zeros(stations, np.int64)
    for j in range(stations):
        for m in range(breaks.shape[1]):
            if not np.isnan(breaks[j, m]):
                per_station[j] += 1
    for k in range(closure_station.size):
        per_station[closure_station[k]] += 1
    width = max(1, per_station.max()) if stations else 1
    start = np.full((stations, width), np.nan)
    length = np.zeros((stations, width))
    rule = np.zeros((stations, width), np.int8)
    for j in range(stations):
        n = 0
        for m in range(breaks.shape[1]):
            if not np.isnan(breaks[j, m]):
                due = breaks[j, m]
                closed = False  # a break due while the station is closed is not taken
                for k in range(closure_station.size):
                    if closure_station[k] == j and closure_start[k] <= due <= (
                        closure_start[k] + closure_length[k]
                    ):
                        closed = True
                if closed:
                    continue
                start[j, n] = due
                length[j, n] = break_length
                rule[j, n] = DEFER
                n += 1
        for k in range(closure_station.size):
            if closure_station[k] == j:
                start[j, n] = closure_start[k]
                length[j, n] = closure_length[k]
                rule[j, n] = FINISH
                n += 1
        if n > 1:  # stable: breaks first on equal starts (they were put first)
            order = np.argsort(start[j, :n], kind="mergesort")
            start[j, :n] = start[j, :n][order]
            length[j, :n] = length[j, :n][order]
            rule[j, :n] = rule[j, :n][order]
    return start, length, rule


def break_schedule(point: Point, open_t: float, close_t: float) -> np.ndarray:
    """Nominal relief-break start times, one row per station, NaN-padded (seconds from start)."""
    relief = point.relief
    if relief is None:
        return np.full((point.stations, 1), np.nan)
    return break_times(point.stations, open_t, close_t, relief.every, relief.stagger)


def breaks_calendar(breaks: np.ndarray, length: float) -> StationCalendar:
    """The calendar of relief breaks alone: one row of nominal break times per station."""
    start = np.asarray(breaks, dtype=float)
    if start.ndim == 1:
        start = start.reshape(1, -1)
    return StationCalendar(
        start, np.full(start.shape, float(length)), np.full(start.shape, DEFER, np.int8)
    )


def _seconds(scenario: Scenario, clock: float) -> float:
    return float(clock - scenario.round.start)


def point_windows(scenario: Scenario, point: Point) -> list[tuple[float, float]]:
    """A point's sampling windows, (open, close) clock times: its own ``windows`` or
    ``window`` (a point's own setting wins), else the demand's."""
    if point.windows and point.window == Window(
        open=point.windows[0].open, close=point.windows[-1].close
    ):
        return [(w.open, w.close) for w in point.windows]
    if point.window is not None:
        return [(point.window.open, point.window.close)]
    return scenario.demand.arrivals.times


def station_closures(scenario: Scenario) -> dict[int, Closures]:
    """Closures of stations, by point index: from ``disruptions: [{what: sampling, ...}]``,
    every station of a point with several windows between them (nights, breaks), and
    the stations off duty of a point with ``shifts``."""
    rows: dict[int, list[tuple[float, float, int]]] = {}
    index = {p.id: i for i, p in enumerate(scenario.points)}
    for i, p in enumerate(scenario.points):
        if p.shifts:  # stations off duty, the highest-numbered, piece by piece of the roster
            for a, b, on in roster(p.shifts, scenario.round.start, scenario.round.horizon):
                for j in range(on, p.stations):
                    rows.setdefault(i, []).append((a, b - a, j))
        windows = point_windows(scenario, p)
        for (_, close), (reopen, _) in itertools.pairwise(windows):
            if reopen > close:
                for j in range(p.stations):
                    rows.setdefault(i, []).append((_seconds(scenario, close), reopen - close, j))
    for d in scenario.disruptions:
        if d.what != "sampling":
            continue
        targets = range(len(scenario.points)) if d.where == "*" else [index[d.where]]
        for i in targets:
            c = scenario.points[i].stations
            units = c if d.units is None else min(d.units, c)
            for j in range(c - units, c):
                rows.setdefault(i, []).append((_seconds(scenario, d.from_), float(d.for_), j))
    return {
        i: Closures(
            np.array([r[0] for r in entries]),
            np.array([r[1] for r in entries]),
            np.array([r[2] for r in entries], dtype=np.int64),
        )
        for i, entries in rows.items()
    }


def point_calendar(
    scenario: Scenario, index: int, open_t: float, close_t: float, closures: Closures | None = None
) -> StationCalendar:
    """The calendar of point ``index``'s stations (breaks from its relief, closures given)."""
    point = scenario.points[index]
    relief = point.relief
    extra = NO_CLOSURES if closures is None else closures
    return StationCalendar(
        *station_calendar(
            point.stations, open_t, close_t,
            relief.every if relief else 0.0, bool(relief and relief.stagger),
            relief.for_ if relief else 0.0, extra.start, extra.length, extra.station,
        )
    )  # fmt: skip


def shift_entries(scenario: Scenario) -> list[dict[str, list[PoolEntry]]]:
    """Per lab, per pool with ``shifts`` (a default lab's pools are its stages): its units
    not on duty, piece by piece of the daily roster (staff finish the run in hand when
    their shift ends)."""
    out: list[dict[str, list[PoolEntry]]] = [{} for _ in scenario.labs]
    for k, lab in enumerate(scenario.labs):
        for name, pool in lab.process.pools.items():
            if not pool.shifts:
                continue
            units = pool.units
            for a, b, on in roster(pool.shifts, scenario.round.start, scenario.round.horizon):
                if on < units:
                    out[k].setdefault(name, []).append(PoolEntry(a, b, units - on, FINISH))
    return out


def pool_entries(scenario: Scenario) -> list[dict[str, list[PoolEntry]]]:
    """Per lab, per pool: the entries of ``disruptions:`` and of the shifts that take its
    units out (``what: lab`` takes out every pool of the lab)."""
    out: list[dict[str, list[PoolEntry]]] = shift_entries(scenario)
    for d in scenario.disruptions:
        if d.what in ("sampling", "vehicle"):
            continue
        for k, lab in enumerate(scenario.labs):
            if d.where not in ("*", lab.id):
                continue
            for name in lab.process.pools if d.what == "lab" else (d.what,):
                units = d.units if d.units is not None else 1 << 30  # all of them
                entry = PoolEntry(
                    _seconds(scenario, d.from_), _seconds(scenario, d.until), units, RULES[d.rule]
                )
                out[k].setdefault(name, []).append(entry)
    return out


def vehicle_entries(scenario: Scenario, vehicles: list[str]) -> dict[str, list[VehicleEntry]]:
    """Per vehicle name (``<route>/v<k>``): the entries of ``disruptions: [{what: vehicle}]``.

    ``where`` names a vehicle, a route (all its vehicles) or ``*``; a name that
    matches no vehicle is an error that lists the vehicles there are.
    """
    out: dict[str, list[VehicleEntry]] = {}
    for i, d in enumerate(scenario.disruptions):
        if d.what != "vehicle":
            continue
        chosen = [v for v in vehicles if d.where in ("*", v) or v.rsplit("/", 1)[0] == d.where]
        if not chosen:
            shown = ", ".join(vehicles[:5]) + (", ..." if len(vehicles) > 5 else "")
            raise ValueError(
                f"disruptions[{i}].where: no vehicle or route '{d.where}' (vehicles: {shown})"
            )
        for v in chosen:
            out.setdefault(v, []).append(
                VehicleEntry(
                    _seconds(scenario, d.from_), _seconds(scenario, d.until), RULES[d.rule]
                )
            )
    return out


def breakdowns(
    failures: Failures, rng: np.random.Generator, horizon: float
) -> list[tuple[float, float]]:
    """One unit's periods out of order from the round's start to ``horizon``: up for a
    ``between`` draw, down for a ``repair`` draw, alternately (an alternating renewal
    process, so its long-run share up is :attr:`Failures.availability`)."""
    up, down = durations(failures.between, rng), durations(failures.repair, rng)
    out = []
    t = up()
    while t < horizon:
        end = t + down()
        out.append((t, end))
        t = end + up()
        if len(out) > MAX_BREAKDOWNS:
            raise ValueError(
                f"more than {MAX_BREAKDOWNS:,} breakdowns of one unit within the horizon: "
                "are between and repair in hours, not seconds?"
            )
    return out


def failure_entries(
    scenario: Scenario, streams: Streams
) -> tuple[list[dict[str, list[PoolEntry]]], list[tuple[str, str, int, float, float]]]:
    """Per lab, per pool: one entry a breakdown of one of its instruments (``failures:``
    of the pool, or of a default stage), drawn from ``failures/<lab>/<pool>/<unit>``; and
    every breakdown as (lab, pool, unit, start, end) rows for the failures table."""
    horizon = scenario.round.horizon
    out: list[dict[str, list[PoolEntry]]] = [{} for _ in scenario.labs]
    rows: list[tuple[str, str, int, float, float]] = []
    for k, lab in enumerate(scenario.labs):
        for name, pool in lab.process.pools.items():
            failures = pool.failures
            if failures is None:
                continue
            rule = RULES[failures.rule]
            for unit in range(pool.units):
                rng = streams[f"failures/{lab.id}/{name}/{unit}"]
                for start, end in breakdowns(failures, rng, horizon):
                    out[k].setdefault(name, []).append(PoolEntry(start, end, 1, rule))
                    rows.append((lab.id, name, unit, start, end))
    return out, rows


def merge_entries(
    *parts: list[dict[str, list[PoolEntry]]],
) -> list[dict[str, list[PoolEntry]]]:
    """The entries of several sources, lab by lab and stage by stage, in their order."""
    out: list[dict[str, list[PoolEntry]]] = [{} for _ in parts[0]]
    for part in parts:
        for k, stages in enumerate(part):
            for name, entries in stages.items():
                out[k].setdefault(name, []).extend(entries)
    return out


def vehicle_failures(
    scenario: Scenario, vehicles: list[str], streams: Streams
) -> dict[str, list[VehicleEntry]]:
    """Per vehicle name: its breakdowns (``transport.failures``), from ``failures/vehicle/<name>``."""
    failures = scenario.transport.failures
    if failures is None:
        return {}
    rule = RULES[failures.rule]
    return {
        name: [
            VehicleEntry(start, end, rule)
            for start, end in breakdowns(
                failures, streams[f"failures/vehicle/{name}"], scenario.round.horizon
            )
        ]
        for name in vehicles
    }
