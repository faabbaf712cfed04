"""A plain per-resident SimPy model of one sampling point, the reference for the fast kernel.

Written from the rules in the docstring of :mod:`sim.model.collect`, not from its
code: every resident is a SimPy process that joins one FIFO line (a
``simpy.Store``) at its arrival time and waits until its swab is done; every
station is a SimPy process that pulls the head of the line, swabs, seals a tube
after every ``pool`` residents and leaves for relief breaks. It is slow (about
ten SimPy events and 60-80 microseconds per resident, against well under one
microsecond for the kernel) and exists only so the tests can show that
``sim.model.collect.collect`` gives the same answers on the same draws. The
events processed are counted (``ReferenceOutcome.events``): per resident its
process start and end, arrival timeout, put, the station's get, AnyOf and
settle events, the swab timeout and the "swabbed" event, plus per tube a seal
timeout and per break a timeout or two.

How the rules map onto SimPy:

* "The head of the line goes to the station that has been free the longest":
  the store hands items to waiting ``get`` requests first come, first served, so
  a station that asked earlier (was free earlier) is served first. Stations that
  become free at the same instant ask in station order: before asking, a station
  waits for a zero-delay event of priority ``2 + j``, processed after every
  ordinary event of that instant (so residents arriving then are already in the
  line) and before the same event of station ``j + 1``.
* The station calendar: before asking for a resident a station applies every
  entry whose start has come, one after the other: a relief break (``defer``)
  is a timeout of the break's length, a closure (``finish``) a timeout to the
  closure's end. An idle station waits on ``AnyOf(get, timeout to its next
  entry, point done)``; if the entry or the end wins it withdraws its request
  (``get.cancel()``).
* Closing: once the point has closed and every resident has been handed to a
  station ("done"), each station that is free applies the entries still due
  (start up to closing, or up to the moment it became free) and seals a
  part-filled tube at max(its free time, closing) plus that tube's change time.
* A closure (``finish``) takes a station off duty: a part-filled tube is sealed
  first, from the closure's start (or the end of the swab under way), and the
  station is away until the closure ends or the seal is done, whichever is later.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from sim.model.calendars import DEFER, StationCalendar

_AFTER_ORDINARY = 2  # simpy uses 0 (urgent) and 1 (normal); larger numbers come later


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self, initial_time: float = 0.0) -> None:
        super().__init__(initial_time)
        self.processed = 0

    def step(self) -> None:
        super().step()
        self.processed += 1


class _Settle(simpy.Event):
    """Fires now, after every ordinary event of this instant; lower rank fires first."""

    def __init__(self, env: simpy.Environment, rank: int) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, priority=_AFTER_ORDINARY + rank)


@dataclass(frozen=True)
class ReferenceOutcome:
    """Per resident: swab start/end, station, tube; per tube (in opening order): the rest."""

    swab_start: np.ndarray
    swab_end: np.ndarray
    station: np.ndarray
    tube: np.ndarray  # index into the tube arrays below
    tube_station: np.ndarray
    tube_first: np.ndarray
    tube_last: np.ndarray
    tube_sealed: np.ndarray
    tube_size: np.ndarray
    tube_arrival: np.ndarray  # when the tube's first resident came
    events: int  # SimPy events processed

    @property
    def events_per_resident(self) -> float:
        return self.events / max(1, self.swab_start.size)


def reference_point(
    arrivals: np.ndarray,
    service: np.ndarray,
    stations: int,
    open_t: float,
    close_t: float,
    pool: int,
    tube_change: np.ndarray,
    calendar: StationCalendar,
) -> ReferenceOutcome:
    """Simulate one point resident by resident (same arguments as ``collect``)."""
    arrivals = np.asarray(arrivals, dtype=float)
    service = np.asarray(service, dtype=float)
    tube_change = np.asarray(tube_change, dtype=float)
    starts = np.asarray(calendar.start, dtype=float).reshape(stations, -1)
    lengths = np.asarray(calendar.length, dtype=float).reshape(stations, -1)
    rules = np.asarray(calendar.rule).reshape(stations, -1)
    n = arrivals.size
    if n > 1 and np.any(np.diff(arrivals) < 0):
        raise ValueError("arrivals must be sorted: resident i is the i-th to join the line")
    if n and arrivals[-1] > close_t:
        raise ValueError("the rules cover residents who arrive by closing time")
    # each station's entries: (start, length, rule), in order
    due: list[list[tuple[float, float, int]]] = [
        [
            (float(b), float(length), int(rule))
            for b, length, rule in zip(starts[j], lengths[j], rules[j], strict=True)
            if not math.isnan(b)
        ]
        for j in range(stations)
    ]

    env = CountingEnvironment(initial_time=min(open_t, float(arrivals[0])) if n else open_t)
    line = simpy.Store(env)
    done = env.event()  # closed, and every resident handed to a station
    state = {"closed": False, "taken": 0}

    start = np.full(n, np.nan)
    station_of = np.full(n, -1, dtype=np.int64)
    tube_of = np.full(n, -1, dtype=np.int64)
    t_station: list[int] = []
    t_first: list[float] = []
    t_arrival: list[float] = []
    t_last: list[float] = []
    t_sealed: list[float] = []
    t_size: list[int] = []

    def resident(i: int) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(arrivals[i] - env.now)
        swabbed = env.event()
        yield line.put((i, swabbed))
        yield swabbed

    def closer() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(max(0.0, close_t - env.now))
        state["closed"] = True
        if state["taken"] == n:
            done.succeed()

    def away(entry: tuple[float, float, int]) -> simpy.Event:
        """The station's time away for one calendar entry, taken now."""
        begin, length, rule = entry
        if rule == DEFER:  # a break: its full length, from its start or from now if later
            return env.timeout(max(begin, env.now) - env.now + length)
        return env.timeout(max(0.0, begin + length - env.now))  # a closure: until it ends

    def station(j: int) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(open_t - env.now)
        entries = due[j]
        nxt = 0
        in_tube = 0  # residents in the open tube
        tube = -1
        sealed = 0  # tubes this station has sealed so far
        while True:
            # entries whose start has come are applied before anyone else is served; a
            # closure takes the station off duty: its staff seal a part-filled tube first
            while nxt < len(entries) and entries[nxt][0] <= env.now:
                nxt += 1
                if entries[nxt - 1][2] != DEFER and in_tube:
                    yield env.timeout(tube_change[j, sealed])
                    t_sealed[tube] = env.now
                    sealed += 1
                    in_tube = 0
                yield away(entries[nxt - 1])
            if done.triggered:
                break
            yield _Settle(env, j)  # same-instant ties: lowest station asks first
            if done.triggered:
                break
            request = line.get()
            waits: list[simpy.Event] = [request, done]
            if nxt < len(entries):
                waits.append(env.timeout(entries[nxt][0] - env.now))
            yield env.any_of(waits)
            if not request.triggered:
                request.cancel()  # the point is done, or an entry fell due: apply it now
                if not done.triggered:
                    nxt += 1
                    if entries[nxt - 1][2] != DEFER and in_tube:
                        yield env.timeout(tube_change[j, sealed])
                        t_sealed[tube] = env.now
                        sealed += 1
                        in_tube = 0
                    yield away(entries[nxt - 1])
                continue
            i, swabbed = request.value
            state["taken"] += 1
            if state["taken"] == n and state["closed"]:
                done.succeed()
            start[i] = env.now
            station_of[i] = j
            if in_tube == 0:
                tube = len(t_station)
                t_station.append(j)
                t_first.append(env.now)
                t_arrival.append(arrivals[i])
                t_last.append(math.nan)
                t_sealed.append(math.nan)
                t_size.append(0)
            tube_of[i] = tube
            yield env.timeout(service[i])
            swabbed.succeed()
            in_tube += 1
            t_last[tube] = env.now
            t_size[tube] = in_tube
            if in_tube == pool:
                yield env.timeout(tube_change[j, sealed])
                t_sealed[tube] = env.now
                sealed += 1
                in_tube = 0
        # The point is done (closed, line empty for good). An idle station has been
        # waiting since before closing and done fired at closing = now; a busy one
        # finished just now.
        if in_tube:
            while nxt < len(entries) and entries[nxt][0] <= max(close_t, env.now):
                nxt += 1
                if entries[nxt - 1][2] != DEFER:  # off duty before closing: seal as it starts
                    yield env.timeout(max(entries[nxt - 1][0], env.now) - env.now)
                    yield env.timeout(tube_change[j, sealed])
                    t_sealed[tube] = env.now
                    in_tube = 0
                    break
                yield away(entries[nxt - 1])
            if in_tube:
                yield env.timeout(max(close_t, env.now) - env.now)
                yield env.timeout(tube_change[j, sealed])
                t_sealed[tube] = env.now

    for j in range(stations):
        env.process(station(j))
    for i in range(n):
        env.process(resident(i))
    env.process(closer())
    env.run()

    assert not np.isnan(start).any(), "some resident was never served"
    return ReferenceOutcome(
        swab_start=start,
        swab_end=start + service,
        station=station_of,
        tube=tube_of,
        tube_station=np.array(t_station, dtype=np.int64),
        tube_first=np.array(t_first, dtype=float),
        tube_last=np.array(t_last, dtype=float),
        tube_sealed=np.array(t_sealed, dtype=float),
        tube_size=np.array(t_size, dtype=np.int64),
        tube_arrival=np.array(t_arrival, dtype=float),
        events=env.processed,
    )
