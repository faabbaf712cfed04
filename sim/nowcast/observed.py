"""A round's state built from counts observed on the day, with the rules that fill in what
the counts do not say.

At 10:00 the command centre knows, per point, how many have been swabbed and how
many stand in line, how many sealed tubes wait for a vehicle; which vehicles are on
the road with how many tubes, to which lab, arriving when; and at each lab, how
many tubes wait for each step and how many are in the runs under way.
:func:`build_state` turns that (:class:`Observed`) into a
:class:`~sim.model.state.RoundState` that a round carries on from with its own
draws (a nowcast, :mod:`sim.nowcast.forecast`).

What it does not know is filled by these rules (:data:`RULES`, printed with every
nowcast of an observed state):

* the calendars at the stop (lab openings, shifts, outages, vehicles out of service)
  are the scenario's, as they stand at that time;
* those in line arrived at the stop, in one group (their waits count from then);
* every station is free at the stop; the residents swabbed into tubes not yet sealed
  (``in_open_tubes``: open, or full and being changed; when not given, half a tube at
  each station, at most the swabbed) are shared out over the point's stations (a tube
  that is full is sealed as the station takes its next resident);
* the sealed tubes share the point's swabbed residents (the rest in the open tubes)
  as evenly as can be, sealed at even times from the point's opening to the stop;
* tubes that have left a point are, newest first, on the vehicles of its route, in
  the labs its route delivers to, then in any lab; the rest have their results, and
  are recorded as reported at the stop (the time of each is not known);
* a vehicle under way drives straight to its lab and arrives at ``arrives``; then it
  serves its route as any other; vehicles not on the road wait at their route's lab;
* at a lab, tubes waiting for a bag step are in bags of the points' ``tubes_per_bag``,
  tubes waiting for a plate step after plating are on full plates (the last one part
  full); the runs under way are as few as hold them (the step's batch), shared over
  the units in service at the stop when those are fewer; they end at ``ends`` or, when
  not given, after half the step's mean duration;
* waits, peaks, station busy times and the timeline count from the stop; the swabs
  before it are spread evenly over the point's opening hours up to the stop.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import lab as lab_state
from ..model import transport as route_state
from ..model.collect import (
    N_ACC,
    STAT_FIELDS,
    Collection,
    CollectionState,
    fresh_accumulators,
)
from ..model.engine import Pending
from ..model.geo import routes_for
from ..model.ledger import Bag, Ledger, Plate, StopRecord, TripRecord
from ..model.state import HISTORY, RoundState
from ..model.world import QUEUE_STEP, Round, Sampled
from ..scenario.errors import ScenarioError
from ..scenario.schema import Scenario
from ..stages import process_of

RULES = (
    "calendars (openings, shifts, outages, vehicles out of service) are the scenario's at the stop",
    "those in line arrived at the stop; their waits count from then",
    "every station is free at the stop; the residents in open tubes (in_open_tubes, or half a "
    "tube a station) are shared over the stations",
    "sealed tubes share the swabbed residents evenly and were sealed at even times from the "
    "point's opening to the stop",
    "tubes gone from a point are, newest first, on its route's vehicles, in its route's lab, "
    "in any lab; the rest are reported, recorded at the stop",
    "a vehicle under way drives straight to its lab, arriving at 'arrives'; the others wait at "
    "their route's lab",
    "lab work is in bags of tubes_per_bag and full plates; runs under way are as few as hold "
    "them, shared over the units in service, and end at 'ends' or after half the step's mean "
    "duration",
    "waits, peaks, busy times and the timeline count from the stop; earlier swabs are spread "
    "evenly from opening to the stop",
)


class ObservedError(ScenarioError):
    """Observed counts that cannot be a round's state, located at the row they came from."""

    def __init__(self, where: tuple[str, int | None], field: str, message: str) -> None:
        super().__init__(where[0], where[1], field, message)


Where = tuple[str, int | None]  # the file and line a count came from (for errors)


@dataclass(frozen=True)
class PointCount:
    point: int
    swabbed: int
    in_line: int
    tubes_waiting: int
    tubes_sealed: int | None = None
    in_open_tubes: int | None = None
    where: Where = ("", None)


@dataclass(frozen=True)
class VehicleCount:
    route: int
    tubes: int
    lab: int
    arrives: float  # seconds from the round's start
    vehicle: int | None = None  # its place in the route (None: the first free)
    where: Where = ("", None)


@dataclass(frozen=True)
class StepCount:
    lab: int
    step: str
    waiting: int
    running: int
    ends: float | None = None  # seconds from the round's start
    where: Where = ("", None)


@dataclass(frozen=True)
class Observed:
    """What was counted at ``time`` (seconds from the round's start)."""

    time: float
    points: tuple[PointCount, ...]
    vehicles: tuple[VehicleCount, ...] = ()
    steps: tuple[StepCount, ...] = ()
    where: Where = ("", None)


def _empty_collection(n_points: int) -> Collection:
    zero = np.zeros(n_points + 1, np.int64)
    nothing = np.empty(0)
    return Collection(
        residents=np.zeros(n_points, np.int64), tube_bounds=zero,
        tube_station=np.empty(0, np.int32), tube_first=nothing, tube_last=nothing,
        tube_sealed=nothing, tube_size=np.empty(0, np.int32), tube_arrival=nothing,
        stats=np.zeros((n_points, len(STAT_FIELDS))), first_arrival=np.full(n_points, np.nan),
        last_arrival=np.full(n_points, np.nan), queue_bounds=zero, queue_time=nothing,
        queue=np.empty(0, np.int64), resident_bounds=zero,
    )  # fmt: skip


@dataclass
class _Tubes:
    """The tubes so far, point by point: sealed ones first (in seal order), then open ones."""

    bounds: list[int] = field(default_factory=lambda: [0])
    station: list[np.ndarray] = field(default_factory=list)
    first: list[np.ndarray] = field(default_factory=list)
    last: list[np.ndarray] = field(default_factory=list)
    sealed: list[np.ndarray] = field(default_factory=list)
    size: list[np.ndarray] = field(default_factory=list)


def _collection(
    scenario: Scenario, observed: Observed, swabbed_by_step: np.ndarray
) -> tuple[CollectionState, np.ndarray, np.ndarray]:
    """The stations, lines and tubes so far; per point the tubes sealed and those waiting."""
    at = observed.time
    points = scenario.points
    start = scenario.round.start
    default_window = scenario.demand.arrivals.span
    counts = {c.point: c for c in observed.points}
    n = len(points)
    started = np.zeros(n, np.int64)
    arrived = np.zeros(n, np.int64)
    line: list[np.ndarray] = []
    free, count, current, nxt, sealed_by = [], [], [], [], []
    tubes = _Tubes()
    acc = np.tile(fresh_accumulators(), (n, 1))
    n_sealed = np.zeros(n, np.int64)
    n_waiting = np.zeros(n, np.int64)
    for i, point in enumerate(points):
        c = counts[i]
        size, stations = point.pool, point.stations
        window = point.window or default_window
        opens = window.open - start
        if c.swabbed and at <= opens:
            raise ObservedError(c.where, "swabbed", f"the point opens at {_clock(window.open)}, "
                                "after the counts' time")  # fmt: skip
        if c.in_open_tubes is not None:
            in_open = c.in_open_tubes
        elif c.tubes_sealed is not None:
            in_open = c.swabbed - c.tubes_sealed * size
        else:
            in_open = min(stations * (size // 2), c.swabbed)
        in_open = max(in_open, 0) if c.in_open_tubes is None else in_open
        sealed = c.tubes_sealed if c.tubes_sealed is not None else (c.swabbed - in_open) // size
        if in_open > stations * size:
            raise ObservedError(c.where, "in_open_tubes", f"{in_open} residents in open tubes: "
                                f"{stations} stations hold at most {stations * size} (a tube "
                                f"of {size} each)")  # fmt: skip
        in_sealed = c.swabbed - in_open
        if in_sealed < 0:
            raise ObservedError(c.where, "in_open_tubes", f"{in_open} in open tubes, but only "
                                f"{c.swabbed} swabbed")  # fmt: skip
        if sealed * size < in_sealed or (sealed and in_sealed < sealed):
            raise ObservedError(c.where, "tubes_sealed", f"{sealed} tubes of {size} cannot hold "
                                f"the {in_sealed} swabbed residents not in open tubes")  # fmt: skip
        if c.tubes_waiting > sealed:
            raise ObservedError(c.where, "tubes_waiting", f"{c.tubes_waiting} waiting, but only "
                                f"{sealed} sealed")  # fmt: skip
        started[i] = c.swabbed
        arrived[i] = c.swabbed + c.in_line
        line.append(np.full(c.in_line, at))
        # the sealed tubes: even sizes, even seal times from opening to the stop
        base, extra = divmod(in_sealed, sealed) if sealed else (0, 0)
        sizes = np.full(sealed, base, np.int64)
        sizes[:extra] += 1
        times = opens + (at - opens) * (np.arange(sealed, dtype=np.float64) + 1) / (sealed + 1)
        station_of = np.arange(sealed) % stations
        # the open tubes: in_open shared over the stations, at most size - 1 each (a full
        # tube is being changed: it is sealed at the stop, and waits with the others)
        share, more = divmod(min(in_open, stations * (size - 1)), stations)
        fill = np.full(stations, share, np.int64)
        fill[:more] += 1
        full = in_open - int(fill.sum())
        changing = 0
        if full:
            full_tubes = np.full(math.ceil(full / size), size, np.int64)
            full_tubes[-1] = full - size * (full_tubes.size - 1)
            sizes = np.concatenate([sizes, full_tubes])
            times = np.concatenate([times, np.full(full_tubes.size, at)])
            station_of = np.concatenate([station_of, np.arange(full_tubes.size) % stations])
            sealed += full_tubes.size
            changing = full_tubes.size
        has = np.flatnonzero(fill)
        for s in range(stations):
            free.append(at)
            count.append(int(fill[s]))
            nxt.append(0)
            sealed_by.append(int(np.count_nonzero(station_of == s)))
            current.append(int(sealed + np.searchsorted(has, s)) if fill[s] else -1)
        tubes.station.append(np.concatenate([station_of, has]).astype(np.int32))
        tubes.first.append(np.concatenate([times, np.full(has.size, at)]))
        tubes.last.append(np.concatenate([times, np.full(has.size, at)]))
        tubes.sealed.append(np.concatenate([times, np.full(has.size, np.nan)]))
        tubes.size.append(np.concatenate([sizes, fill[has]]).astype(np.int32))
        tubes.bounds.append(tubes.bounds[-1] + sealed + has.size)
        n_sealed[i], n_waiting[i] = sealed, c.tubes_waiting + changing
        acc[i, 2], acc[i, 3] = float(c.in_line), at  # the peak queue so far: the line now
        if c.swabbed:
            acc[i, 1] = at  # the last swab so far: at the stop, at the latest
        if c.swabbed:  # the earlier swabs on the timeline, spread from opening to the stop
            cells = np.arange(
                math.ceil(max(opens, 0.0) / QUEUE_STEP), math.ceil(at / QUEUE_STEP) + 1
            )
            cells = cells[cells < swabbed_by_step.size - 1] if cells.size else cells
            if cells.size == 0:
                cells = np.array([min(math.ceil(at / QUEUE_STEP), swabbed_by_step.size - 1)])
            spread = np.full(cells.size, c.swabbed // cells.size, np.int64)
            spread[: c.swabbed % cells.size] += 1
            swabbed_by_step[cells] += spread
    station_bounds = np.zeros(n + 1, np.int64)
    np.cumsum([p.stations for p in points], out=station_bounds[1:])
    tube_bounds = np.asarray(tubes.bounds, np.int64)
    empty_f = np.empty(0)
    joined = {
        name: np.concatenate(getattr(tubes, name)) if getattr(tubes, name) else empty_f
        for name in ("first", "last", "sealed")
    }
    state = CollectionState(
        time=at,
        started=started,
        arrived=arrived,
        line_bounds=_bounds([len(x) for x in line]),
        line=np.concatenate(line) if line else empty_f,
        station_bounds=station_bounds,
        free=np.asarray(free, np.float64),
        count=np.asarray(count, np.int64),
        current=np.asarray(current, np.int64),
        nxt=np.asarray(nxt, np.int64),
        sealed_by=np.asarray(sealed_by, np.int64),
        tube_bounds=tube_bounds,
        tube_station=np.concatenate(tubes.station) if tubes.station else np.empty(0, np.int32),
        tube_first=joined["first"],
        tube_last=joined["last"],
        tube_sealed=joined["sealed"],
        tube_size=np.concatenate(tubes.size) if tubes.size else np.empty(0, np.int32),
        tube_arrival=joined["first"].copy(),
        acc=acc if n else np.zeros((0, N_ACC)),
        waits_bounds=np.zeros(n + 1, np.int64),
        waits=empty_f,
        swabbed=swabbed_by_step.copy(),
    )
    return state, n_sealed, n_waiting


def _bounds(sizes: Sequence[int]) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def _clock(seconds_after_midnight: float) -> str:
    from ..units import format_clock

    return format_clock(seconds_after_midnight)


class _Gone:
    """The tubes that have left the points, newest first per point, handed out in turn."""

    def __init__(self, offsets: np.ndarray, sealed: np.ndarray, waiting: np.ndarray) -> None:
        taken = sealed - waiting
        # point i's gone tubes are its first taken[i]; hand out the newest first
        self.next_hi = offsets[:-1] + taken
        self.lo = offsets[:-1].copy()

    def left(self, point: int) -> int:
        return int(self.next_hi[point] - self.lo[point])

    def take(self, points: Sequence[int], n: int) -> list[tuple[int, int, int]]:
        """Up to ``n`` tubes from ``points`` in turn: (lo, hi, point) ranges, newest first."""
        out = []
        for p in points:
            if n == 0:
                break
            k = min(n, self.left(p))
            if k:
                hi = int(self.next_hi[p])
                out.append((hi - k, hi, p))
                self.next_hi[p] -= k
                n -= k
        return out


def build_state(scenario: Scenario, observed: Observed, seed: int | None = None) -> RoundState:
    """The :class:`RoundState` of ``observed`` (checked; :class:`ObservedError` names the row).

    The calendars come from the scenario itself: an empty round (nobody comes) run to
    the counts' time gives every lab's pools and every vehicle in or out of service then,
    and the calendar events still to come.
    """
    at = observed.time
    if scenario.door_to_door is not None:
        raise ObservedError(observed.where, "", "a round with door_to_door cannot be nowcast yet")
    if scenario.positives.followup is not None:
        raise ObservedError(observed.where, "", "a round with positives.followup cannot be "
                            "nowcast yet")  # fmt: skip
    seed = scenario.round.seed if seed is None else seed
    n_points = len(scenario.points)
    blank = Round(
        scenario, 0, seed,
        sampled=Sampled(
            _empty_collection(n_points),
            np.zeros(int(np.ceil(scenario.round.horizon / QUEUE_STEP)) + 2, np.int64),
        ),
    )  # fmt: skip
    blank.run(at)
    swabbed = np.zeros(blank.swab_counts.size, np.int64)
    collection, n_sealed, n_waiting = _collection(scenario, observed, swabbed)
    offsets = collection.tube_bounds
    n_tubes = int(offsets[-1])
    point_of = np.repeat(np.arange(n_points), np.diff(offsets))
    ledger = Ledger(
        n_tubes=n_tubes, tube_point=point_of.astype(np.int32),
        tube_station=collection.tube_station, tube_size=collection.tube_size,
        tube_first=collection.tube_first, tube_last=collection.tube_last,
        tube_sealed=collection.tube_sealed, tube_arrival=collection.tube_arrival,
    )  # fmt: skip
    gone = _Gone(offsets, n_sealed, n_waiting)
    routes = routes_for(scenario)
    point_index = {p.id: i for i, p in enumerate(scenario.points)}
    lab_index = {lab.id: k for k, lab in enumerate(scenario.labs)}
    route_points = [[point_index[p] for p in r.points] for r in routes]
    # the points each lab's routes serve, for the tubes found in a lab
    served_by: dict[int, list[int]] = defaultdict(list)
    for route, pts in zip(routes, route_points, strict=True):
        served_by[lab_index[route.lab]].extend(pts)
    everyone = list(range(n_points))
    pending = [p for p in blank.engine.pending() if p.method in ("calendar", "vehicle_out",
                                                                 "vehicle_back")]  # fmt: skip
    seq = max((p.seq for p in blank.engine.pending()), default=-1) + 1
    added: list[Pending] = []

    def event(due: float, owner: str, method: str, *args: object) -> int:
        nonlocal seq
        added.append(Pending(due, seq, owner, method, tuple(args)))
        seq += 1
        return seq - 1

    # -- vehicles on the road ------------------------------------------------------
    services = blank.services
    route_states = [route_state.snapshot(s) for s in services]
    for rs in route_states:  # every vehicle at its route's lab, no trip under way
        rs.trips = []
        rs.timer_at = float("nan")
        rs.vehicles = [(0, out, False, -1) for _, out, _, _ in rs.vehicles]
        rs.idle = [k for k, (_, out, _, _) in enumerate(rs.vehicles) if out == 0]
    trips: list[TripRecord] = []
    stops: list[StopRecord] = []
    coming = np.zeros(len(scenario.labs), np.int64)
    for v in observed.vehicles:
        rs, service = route_states[v.route], services[v.route]
        place = v.vehicle
        if place is None:
            free = [k for k in rs.idle]
            if not free:
                raise ObservedError(v.where, "route", f"route {routes[v.route].id} has no "
                                    f"vehicle left in service for this row ({len(rs.vehicles)} "
                                    "in all)")  # fmt: skip
            place = free[0]
        elif place not in rs.idle:
            raise ObservedError(v.where, "vehicle", "this vehicle is on another row, or out of "
                                "service at the counts' time")  # fmt: skip
        rs.idle.remove(place)
        if v.arrives <= at:
            raise ObservedError(v.where, "arrives", "must be after the counts' time")
        bags = gone.take(route_points[v.route], v.tubes)
        n_got = sum(hi - lo for lo, hi, _ in bags)
        if n_got < v.tubes:
            raise ObservedError(v.where, "tubes", f"{v.tubes} tubes, but the points of route "
                                f"{routes[v.route].id} have sent only {n_got} that no earlier row "
                                "holds (tubes_sealed - tubes_waiting)")  # fmt: skip
        trip_id = len(trips)
        vehicle = service.vehicles[place]
        trips.append(TripRecord(trip_id, v.route, vehicle.index, "observed", at, float("nan"),
                                0, len(bags), v.lab, "observed"))  # fmt: skip
        for lo, hi, p in bags:
            stops.append(StopRecord(trip_id, p, at, at, hi - lo, lo, hi))
        here = service.lab_place[v.lab] if v.lab != service.home else 0
        if v.lab != service.home and here == 0:
            raise ObservedError(v.where, "lab", f"route {routes[v.route].id} delivers to "
                                f"{routes[v.route].lab} only (transport.dispatch decides "
                                "otherwise)")  # fmt: skip
        seq_event = event(v.arrives, service.key, "delivered", trip_id)
        rs.vehicles[place] = (0, rs.vehicles[place][1], False, trip_id)
        rs.trips.append(route_state.TripState(
            trip_id, place, [], 0, here, bags, len(bags), seq_event, None, v.lab, "observed",
        ))  # fmt: skip
        coming[v.lab] += v.tubes
    # -- the labs --------------------------------------------------------------------
    bags_list: list[Bag] = []
    plates_list: list[Plate] = []
    lab_states = []
    by_lab: dict[int, list[StepCount]] = defaultdict(list)
    for s in observed.steps:
        by_lab[s.lab].append(s)
    in_lab_total = 0
    for k, service_lab in enumerate(blank.labs.by_index):
        config = scenario.labs[k]
        saved = lab_state.snapshot(service_lab)
        registry = process_of(config.process)
        names = [stage.name for stage in registry.stages]
        bag_names = [st.name for st in registry.stages if st.unit == "bag"]
        plate_names = [st.name for st in registry.stages if st.unit == "plate"]
        specs = dict(zip(names, config.process.steps, strict=True))
        lab_rows = {s.step: s for s in by_lab.get(k, [])}
        order = [name for name in names if name in lab_rows]  # the newest tubes first
        waiting_ranges: list[tuple[int, int, float]] = []
        in_hand = 0
        for name in order:
            row = lab_rows[name]
            spec = specs[name]
            stage = registry.stages[names.index(name)]
            step_state = saved.steps[name]
            total = row.waiting + row.running
            got = gone.take(served_by[k], total)
            got += gone.take(everyone, total - sum(hi - lo for lo, hi, _ in got))
            if sum(hi - lo for lo, hi, _ in got) < total:
                raise ObservedError(row.where, "waiting", "the labs hold more tubes than the "
                                    "points have sent (tubes_sealed - tubes_waiting, less those "
                                    "on the vehicles)")  # fmt: skip
            in_hand += total
            running_part, waiting_part = _split(got, row.running)
            run_items: list[Any]
            wait_items: list[Any]
            if stage.unit == "bag":
                done = bag_names.index(name)
                make = _bags(bags_list, k, at, len(bag_names), done, scenario)
                run_items, wait_items = make(running_part), make(waiting_part)
            elif stage.forms_plates:
                done = plate_names.index(name)
                run_items = _plates(plates_list, k, at, len(plate_names), done,
                                    config.samples_per_plate, running_part)  # fmt: skip
                wait_items = []
                waiting_ranges.extend((lo, hi, at) for lo, hi, _ in waiting_part)
                # their bags are through the bag steps
                _bags(bags_list, k, at, len(bag_names), len(bag_names), scenario)(
                    running_part + waiting_part
                )
            else:
                done = plate_names.index(name)
                run_items = _plates(plates_list, k, at, len(plate_names), done,
                                    config.samples_per_plate, running_part)  # fmt: skip
                wait_items = _plates(plates_list, k, at, len(plate_names), done,
                                     config.samples_per_plate, waiting_part)  # fmt: skip
                _bags(bags_list, k, at, len(bag_names), len(bag_names), scenario)(
                    running_part + waiting_part
                )
            step_state.queue = [item.id for item in wait_items]
            step_state.running = {}
            if run_items:
                per_run = spec.batch.size
                possible = min(len(saved.pools[p].idle) // u for p, u in spec.needs.items())
                if possible == 0:
                    raise ObservedError(row.where, "running", f"{config.id} has no "
                                        f"{' and '.join(spec.needs)} in service at the counts' "
                                        "time to run them")  # fmt: skip
                # as few runs as hold them, shared over the units in service when fewer
                n_runs = min(possible, math.ceil(len(run_items) / per_run))
                runs = [run_items[j::n_runs] for j in range(n_runs)]
                ends = row.ends if row.ends is not None else at + spec.duration.mean / 2
                for items in runs:
                    held: dict[str, list[int]] = {}
                    for pool_name, units in spec.needs.items():
                        idle = saved.pools[pool_name].idle
                        held[pool_name] = [idle.pop(0) for _ in range(units)]
                    lead = next(iter(held.values()))[0]
                    for item in items:
                        item.times[2 * _index(registry, name)] = at
                        item.server[_index(registry, name)] = lead
                    seq_event = event(ends, f"{service_lab.key}/{name}", "end", lead)
                    step_state.running[lead] = (seq_event, [i.id for i in items], held, 0.0, 0)
            if wait_items or name == registry.stages[0].name:
                event(at, f"{service_lab.key}/{name}", "timer")
        saved.waiting = waiting_ranges
        saved.n_waiting = sum(hi - lo for lo, hi, _ in waiting_ranges)
        saved.timer_for = float("nan")
        saved.in_hand = in_hand
        saved.coming = int(coming[k])
        in_lab_total += in_hand
        if saved.n_waiting:
            event(at, service_lab.key, "timer")
        lab_states.append(saved)
    # -- the tubes with their results -----------------------------------------------
    reported_lab = [lab_index[routes[r].lab] for r in range(len(routes))]
    home_of = np.zeros(n_points, np.int64)
    for r, pts in enumerate(route_points):
        home_of[pts] = reported_lab[r]
    for p in range(n_points):
        left = gone.take([p], gone.left(p))
        if not left:
            continue
        k = int(home_of[p])
        config = scenario.labs[k]
        registry = process_of(config.process)
        n_bag = sum(1 for s in registry.stages if s.unit == "bag")
        n_plate = len(registry.stages) - n_bag
        _bags(bags_list, k, at, n_bag, n_bag, scenario)(left)
        _plates(plates_list, k, at, n_plate, n_plate, config.samples_per_plate, left)
    # the trips that brought the tubes in the labs and those reported: one per lab
    delivered: dict[int, list[Bag]] = defaultdict(list)
    for bag in bags_list:
        delivered[bag.lab].append(bag)
    for k, lab_bags in sorted(delivered.items()):
        # recorded as one trip of the first route to the lab (the trips are not known)
        r = next((j for j, route in enumerate(routes) if lab_index[route.lab] == k), 0)
        trip_id = len(trips)
        n = sum(b.hi - b.lo for b in lab_bags)
        trips.append(TripRecord(trip_id, r, services[r].vehicles[0].index, "observed", at, at,
                                n, len(lab_bags), k, "delivered before the stop"))  # fmt: skip
        for bag in lab_bags:
            stops.append(StopRecord(trip_id, bag.point, at, at, bag.hi - bag.lo, bag.lo, bag.hi))
    stops.sort(key=lambda s: s.lo)
    ledger.trips, ledger.stops = trips, stops
    ledger.bags = sorted(bags_list, key=lambda b: b.id)
    ledger.plates = sorted(plates_list, key=lambda p: p.id)
    ledger.settle()
    taken = n_sealed - n_waiting
    rows = np.concatenate(
        [np.arange(offsets[i], offsets[i] + taken[i]) for i in range(n_points)]
        or [np.empty(0, np.int64)]
    ).astype(np.int64)
    for service in services:  # every route decides at once what to send out
        event(at, service.key, "decide")
    everything = sorted([*pending, *added], key=lambda p: (p.due, p.seq))
    queue_bounds = np.arange(n_points + 1, dtype=np.int64)
    return RoundState(
        time=at,
        scenario=scenario.round.name,
        seed=seed,
        replication=-1,
        collection=collection,
        queue_bounds=queue_bounds,
        queue_time=np.full(n_points, at),
        queue=np.array(
            [c.in_line for c in sorted(observed.points, key=lambda c: c.point)], np.int64
        ),
        tube_offsets=offsets.copy(),
        taken=taken.astype(np.int64),
        history={name: getattr(ledger, name)[rows].copy() for name in HISTORY},
        covered=np.zeros(n_points, bool),
        trips=trips,
        stops=stops,
        bags=ledger.bags,
        plates=ledger.plates,
        routes=route_states,
        labs=lab_states,
        pending=everything,
        exact=False,
    )


def _index(registry: object, name: str) -> int:
    """A step's place among the steps that work on its kind of item."""
    stages = registry.stages  # type: ignore[attr-defined]
    unit = next(s.unit for s in stages if s.name == name)
    return [s.name for s in stages if s.unit == unit].index(name)


def _split(
    ranges: list[tuple[int, int, int]], n: int
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """The first ``n`` tubes of ``ranges``, and the rest."""
    first, rest = [], []
    for lo, hi, p in ranges:
        k = min(max(n, 0), hi - lo)
        if k:
            first.append((lo, lo + k, p))
        if lo + k < hi:
            rest.append((lo + k, hi, p))
        n -= k
    return first, rest


def _bags(
    records: list[Bag], lab: int, at: float, steps: int, done: int, scenario: Scenario
) -> Callable[[list[tuple[int, int, int]]], list[Bag]]:
    """A maker of bags at ``lab`` for tube ranges: through their first ``done`` bag steps."""

    def make(ranges: list[tuple[int, int, int]]) -> list[Bag]:
        out = []
        for lo, hi, p in ranges:
            per_bag = scenario.points[p].tubes_per_bag
            for a in range(lo, hi, per_bag):
                bag = Bag(len(records), lab, p, a, min(a + per_bag, hi), at,
                          ([float("nan")] * (2 * steps), [-1] * steps))  # fmt: skip
                for j in range(done):
                    bag.times[2 * j] = bag.times[2 * j + 1] = at
                records.append(bag)
                out.append(bag)
        return out

    return make


def _plates(
    records: list[Plate], lab: int, at: float, steps: int, done: int, per_plate: int,
    ranges: list[tuple[int, int, int]],
) -> list[Plate]:  # fmt: skip
    """Plates of ``per_plate`` tubes (the last part full) at ``lab``, through ``done`` steps."""
    out: list[Plate] = []
    current: list[tuple[int, int]] = []
    held = 0
    pieces = [(lo, hi) for lo, hi, _ in ranges]
    while pieces:
        lo, hi = pieces.pop(0)
        k = min(hi - lo, per_plate - held)
        current.append((lo, lo + k))
        held += k
        if lo + k < hi:
            pieces.insert(0, (lo + k, hi))
        if held == per_plate or not pieces:
            plate = Plate(len(records), lab, current, held,
                          ([float("nan")] * (2 * steps), [-1] * steps))  # fmt: skip
            for j in range(done):
                plate.times[2 * j] = plate.times[2 * j + 1] = at
            records.append(plate)
            out.append(plate)
            current, held = [], 0
    return out
