"""Transport (送): vehicles on routes pick up sealed tubes and drive them to a lab.

A route's controller decides when a vehicle sets out; the rules, in order:

1. **schedule** — a pickup time (``first``, then every ``every``) has come;
2. **threshold** — a point holds at least ``when_tubes`` tubes;
3. **sweep** — a point has sealed its last tube and still holds some;
4. **recall** — a recall's single tubes wait at a point that no trip will visit
   any more (``positives.followup.carry: next_trip``; otherwise they wait for
   the route's next trip to the point, which takes them with its tubes).

Threshold and sweep ignore a point that a vehicle already under way will still
visit. A trip visits, in route order, every point of the route that is not
finished (closed, last tube sealed and taken); it hands over (``handover``)
where tubes are waiting, taking every tube sealed by its arrival, then drives
to a lab — its route's, or the one the dispatch rule chooses as it leaves the
last point (:mod:`sim.model.dispatch`) — and delivers them, bagged by the point
(``tubes_per_bag``). If every vehicle is out, the trip leaves when one comes
back. Vehicles start at their route's lab and set out from the lab they last
delivered to.

Travel time = great-circle distance x detour / speed (or the matrix entry) x a
mean-one gamma noise factor, drawn per leg from the vehicle's own stream.

A vehicle out of service (``disruptions: [{what: vehicle}]``) is not sent out;
one on a trip when it goes out finishes the trip first (``finish``) or stops
where it is and carries on when it is back (``resume``).

How it is simulated. A trip is a chain of SimPy events (a leg driven, a
handover done, the tubes delivered); the controller is woken by a timer for the
next moment a reason can arise, and whenever a vehicle comes back or a trip
releases a point. A route with one vehicle drives and hands over in one event
(nobody else can take from the point meanwhile, so what it will find is known
when it sets out).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..random import Streams
from ..scenario.schema import Pickups, Route, Scenario
from .calendars import RESUME, VehicleEntry, vehicle_entries, vehicle_failures
from .dispatch import ROUTE_LAB, Dispatcher
from .draws import Buffered, durations, noise_factors
from .engine import Engine
from .geo import great_circle_m, great_circle_matrix
from .lab import BagSpec, LabService
from .ledger import NAN, Ledger, StopRecord, TripRecord


class PointStock:
    """Sealed tubes of one point waiting for a vehicle (tubes lo:hi of the ledger).

    The seal times are kept as a Python list: the controller asks "how many are
    sealed by now" tens of thousands of times, and ``bisect`` on a list costs a
    tenth of a scalar ``numpy.searchsorted``.
    """

    __slots__ = (
        "covered", "done_at", "index", "key", "lo", "sealed", "taken", "tubes_per_bag", "urgent",
    )  # fmt: skip

    def __init__(
        self, index: int, key: str, sealed: np.ndarray, lo: int, tubes_per_bag: int
    ) -> None:
        self.index = index
        self.key = key
        self.sealed: list[float] = sealed.tolist()
        self.lo = lo
        self.tubes_per_bag = tubes_per_bag
        self.taken = 0
        self.covered = False
        self.done_at = self.sealed[-1] if self.sealed else 0.0
        # recalls' single tubes waiting for the next trip (positives.followup carry: next_trip):
        # (ready at, what), in the order they became ready
        self.urgent: deque[tuple[float, Any]] = deque()

    def held(self, t: float) -> int:
        return bisect_right(self.sealed, t) - self.taken

    def finished(self, t: float) -> bool:
        return self.taken == len(self.sealed) and self.done_at <= t and not self.urgent

    def urgent_ready(self, t: float) -> bool:
        """Whether single tubes of a recall are waiting here by ``t``."""
        return bool(self.urgent) and self.urgent[0][0] <= t

    def take_urgent(self, t: float) -> list[Any]:
        """The recalls' single tubes ready by ``t`` (each taken once)."""
        taken = []
        while self.urgent and self.urgent[0][0] <= t:
            taken.append(self.urgent.popleft()[1])
        return taken

    def threshold_time(self, n: int) -> float:
        k = self.taken + n - 1
        return self.sealed[k] if k < len(self.sealed) else np.inf

    def take(self, n: int) -> list[BagSpec]:
        if not 0 < n <= len(self.sealed) - self.taken:  # each tube is picked up once
            raise RuntimeError(f"point {self.key}: {n} tubes asked, {self.held(np.inf)} there")
        lo = self.lo + self.taken
        self.taken += n
        hi = self.lo + self.taken
        step = self.tubes_per_bag
        return [(a, min(a + step, hi), self.index) for a in range(lo, hi, step)]


class TravelTimes:
    """Point-to-point driving times, from a matrix or from the map."""

    def __init__(self, scenario: Scenario) -> None:
        travel = scenario.transport.travel
        self.matrix = travel.matrix or {}
        self.factor = travel.detour / travel.speed
        self.cv = travel.noise_cv
        self.where: dict[str, tuple[float, float] | None] = {
            p.id: p.location for p in scenario.points
        }
        self.where.update({lab.id: lab.location for lab in scenario.labs})

    def base(self, a: str, b: str) -> float:
        """Travel time without noise: the matrix entry (either direction) or distance x detour / speed."""
        if a == b:
            return 0.0
        if a in self.matrix and b in self.matrix[a]:
            return self.matrix[a][b]
        if b in self.matrix and a in self.matrix[b]:
            return self.matrix[b][a]
        pa, pb = self.where.get(a), self.where.get(b)
        if pa is None or pb is None:
            raise ValueError(
                f"no travel time from '{a}' to '{b}': give coordinates or a matrix entry"
            )
        return great_circle_m(pa, pb) * self.factor

    def between(self, places: Sequence[str]) -> list[list[float]]:
        """Base times between every pair of ``places``, as nested lists (row = origin).

        A route asks once for its lab and points, so a leg during the run is a list
        lookup: looking legs up by name on every trip cost more than SimPy itself.
        Pairs without a matrix entry are computed together from the map.
        """
        coords = [self.where.get(p) for p in places]
        if self.matrix or any(c is None for c in coords):
            return [[self.base(a, b) for b in places] for a in places]
        xy = np.array(coords, dtype=float)
        out = great_circle_matrix(xy, xy) * self.factor
        np.fill_diagonal(out, 0.0)
        return out.tolist()


def pickup_schedule(pickups: Pickups, start: float, horizon: float) -> list[float]:
    """Scheduled departure times, seconds from the round start."""
    if pickups.every is None:
        return [] if pickups.first is None else [pickups.first - start]
    first = (pickups.first - start) if pickups.first is not None else pickups.every
    # Python floats: a numpy scalar here would make the SimPy clock a numpy scalar, and every
    # comparison and sum on it several times slower
    return np.arange(first, horizon, pickups.every).tolist()


@dataclass(slots=True)
class Vehicle:
    index: int  # global vehicle number
    name: str
    noise: Buffered  # travel-time factors, one per leg
    at: int = 0  # where it is: a place of its route's leg table (0 is the route's lab)
    out: int = 0  # calendar entries holding it out of service now
    leaving: bool = False  # out of service once its trip is over
    trip: int = -1  # the trip it is on (-1: none)


@dataclass(slots=True)
class Trip:
    """A trip under way: where it has got to, what it carries, what it is waiting for."""

    id: int
    vehicle: Vehicle
    plan: list[tuple[int, PointStock]]  # (place in the leg table, point) still to visit first
    position: int = 0  # the stop it is driving to or at
    here: int = 0  # the place it last left
    bags: list[BagSpec] = field(default_factory=list)
    stops: int = 0
    event: int = -1  # its pending event
    paused: tuple[Callable[..., None], tuple[Any, ...], float] | None = None  # what, with, left
    lab: int = -1  # the lab it is taking its tubes to, once chosen
    choice: str = ""
    urgent: list[Any] = field(default_factory=list)  # recalls' single tubes it carries


class RouteService:
    """The controller and vehicles of one route."""

    def __init__(
        self,
        engine: Engine,
        route_index: int,
        route: Route,
        stocks: Sequence[PointStock],
        vehicles: list[Vehicle],
        labs: Sequence[LabService],
        dispatcher: Dispatcher,
        travel: TravelTimes,
        handover: Buffered,
        pickups: Pickups,
        schedule: list[float],
        ledger: Ledger,
        calendars: dict[str, list[VehicleEntry]],
        restoring: bool = False,
    ) -> None:
        self.engine = engine
        self.key = f"route:{route.id}"
        self.route_index = route_index
        self.route = route
        self.stocks = list(stocks)
        self.vehicles = vehicles
        self.idle = list(vehicles)
        self.labs = list(labs)
        self.dispatcher = dispatcher
        lab_ids = [lab.config.id for lab in self.labs]
        self.home = lab_ids.index(route.lab)
        # leg times between places: 0 is the route's lab, 1..n its points, then the other labs
        places = [route.lab, *(stock.key for stock in self.stocks)]
        self.lab_place = [0] * len(self.labs)
        if dispatcher.moves:
            for k, lab_id in enumerate(lab_ids):
                if k != self.home:
                    self.lab_place[k] = len(places)
                    places.append(lab_id)
        self.legs = travel.between(places)
        self.handover = handover
        self.schedule = list(schedule)
        self.when_tubes = pickups.when_tubes
        self.final_sweep = pickups.final_sweep
        self.ledger = ledger
        self.trips: dict[int, Trip] = {}
        # told of each recall's single tubes a trip delivers (sim.model.followup sets it)
        self.on_urgent: Callable[[Any, int], None] | None = None
        self._timer_at = np.nan  # when the pending timer rings (NaN: none)
        # one vehicle drives and hands over in one event, unless it may be stopped on the way
        mine = [calendars.get(v.name, []) for v in vehicles]
        self.alone = len(vehicles) == 1 and not any(e.rule == RESUME for es in mine for e in es)
        if restoring:  # the timer, the trips and the calendar's events come from the saved state
            return
        for v, entries in enumerate(mine):
            for entry in entries:
                engine.at(entry.start, self.vehicle_out, v, entry.rule)
                engine.at(entry.end, self.vehicle_back, v)
        engine.at(0.0, self.decide)

    # -- when to set out ------------------------------------------------------
    def _reason(self, now: float) -> str | None:
        if self.schedule and self.schedule[0] <= now:
            return "schedule"
        n = self.when_tubes
        if n is not None:
            for s in self.stocks:
                if not s.covered and s.held(now) >= n:
                    return "threshold"
        if self.final_sweep:
            for s in self.stocks:
                if not s.covered and s.done_at <= now and s.held(now) > 0:
                    return "sweep"
        for s in self.stocks:  # single tubes at a point no trip will come to any more
            if not s.covered and s.urgent and s.taken == len(s.sealed) and s.done_at <= now:
                return "recall"
        return None

    def _next_wake(self, now: float) -> float:
        """The next moment a reason to set out can arise (inf: none will)."""
        wake = self.schedule[0] if self.schedule and self.schedule[0] > now else math.inf
        n = self.when_tubes
        for s in self.stocks:
            if s.covered or s.finished(now):
                continue
            if n is not None:
                t = s.threshold_time(n)
                if now < t < wake:
                    wake = t
            if self.final_sweep and now < s.done_at < wake:
                wake = s.done_at
        return wake

    def decide(self) -> None:
        """Send out every vehicle there is a reason and a vehicle for; then set a timer.

        Called at the start, when a vehicle comes back, when a trip releases a point
        and when the timer rings. The timer is set for the next moment a reason can
        arise (a scheduled pickup, a point reaching the threshold or closing); a
        timer made stale by a later decision is ignored when it rings.
        """
        engine = self.engine
        now = engine.env.now
        for s in self.stocks:
            if not s.finished(now):
                break
        else:
            return
        reason = self._reason(now)
        while reason is not None and self.idle:
            while self.schedule and self.schedule[0] <= now:
                self.schedule.pop(0)
            # the points to visit, with their place in the leg table (0 is the lab)
            plan = [(i + 1, s) for i, s in enumerate(self.stocks) if not s.finished(now)]
            for _, s in plan:
                s.covered = True
            self._launch(self.idle.pop(0), plan, reason)
            reason = self._reason(now)
        if reason is None:
            wake = self._next_wake(now)
            if wake < math.inf and wake != self._timer_at:
                self._timer_at = wake
                engine.at(wake - now, self.ring, wake)

    def ring(self, wake: float) -> None:
        if wake == self._timer_at:
            self._timer_at = np.nan
            self.decide()

    # -- a trip ---------------------------------------------------------------
    def _launch(self, vehicle: Vehicle, plan: list[tuple[int, PointStock]], reason: str) -> None:
        ledger = self.ledger
        trip = Trip(len(ledger.trips), vehicle, plan, here=vehicle.at)
        now = self.engine.env.now
        ledger.trips.append(
            TripRecord(trip.id, self.route_index, vehicle.index, reason, now, NAN, 0, 0, -1, "")
        )
        self.trips[trip.id] = trip
        vehicle.trip = trip.id
        self._leave(trip)

    def _leave(self, trip: Trip) -> None:
        """Set off from where the trip is: to its next point, or, after the last, to a lab."""
        engine = self.engine
        noise = trip.vehicle.noise
        if trip.position < len(trip.plan):
            there, stock = trip.plan[trip.position]
            leg = self.legs[trip.here][there]
            drive = leg * noise() if leg > 0 else leg
            trip.here = there
            if self.alone:
                # nobody else takes from this point before we arrive, so what we will find
                # is known now: drive and hand over in one event (same times, same draws)
                arrive = engine.env.now + drive
                n = stock.held(arrive)
                delay = drive + self.handover() if n > 0 or stock.urgent_ready(arrive) else drive
                trip.event = engine.at(delay, self.handed_over, trip.id, arrive, n)
            else:
                trip.event = engine.at(drive, self.arrived, trip.id)
            return
        tubes = sum(hi - lo for lo, hi, _ in trip.bags)
        if self.dispatcher.moves:
            drives = [self.legs[trip.here][place] for place in self.lab_place]
            trip.lab, trip.choice = self.dispatcher.choose(self.home, drives, engine.env.now, tubes)
        else:
            trip.lab, trip.choice = self.home, ROUTE_LAB
        self.labs[trip.lab].coming += tubes
        leg = self.legs[trip.here][self.lab_place[trip.lab]]
        trip.here = self.lab_place[trip.lab]
        trip.event = engine.at(leg * noise() if leg > 0 else leg, self.delivered, trip.id)

    def arrived(self, trip_id: int) -> None:
        """At a point (a route with several vehicles): hand over what is sealed by now."""
        trip = self.trips[trip_id]
        arrive = self.engine.env.now
        stock = trip.plan[trip.position][1]
        n = stock.held(arrive)
        if n > 0 or stock.urgent_ready(arrive):
            trip.event = self.engine.at(self.handover(), self.handed_over, trip_id, arrive, n)
        else:
            self.handed_over(trip_id, arrive, 0)

    def handed_over(self, trip_id: int, arrive: float, n: int) -> None:
        """The handover at a point is done (``n`` tubes, none when nothing was waiting)."""
        trip = self.trips[trip_id]
        stock = trip.plan[trip.position][1]
        now = self.engine.env.now
        ledger = self.ledger
        # another vehicle of the route may have taken tubes from this point while this one
        # handed over: it takes what it found on arrival, of what is still there (a tube
        # is picked up once)
        n = min(n, stock.held(now))
        if n > 0:
            taken = stock.take(n)
            lo, hi = taken[0][0], taken[-1][1]
            ledger.stops.append(StopRecord(trip_id, stock.index, arrive, now, n, lo, hi))
            trip.bags.extend(taken)
            trip.stops += 1
        if stock.urgent:
            trip.urgent.extend(stock.take_urgent(arrive))
        stock.covered = False
        trip.position += 1
        if self.idle:  # an idle vehicle may now be needed for this point (threshold, sweep)
            self.decide()
        self._leave(trip)

    def delivered(self, trip_id: int) -> None:
        """At the lab: hand over the bags; the vehicle waits there for its next trip."""
        trip = self.trips.pop(trip_id)
        now = self.engine.env.now
        ledger = self.ledger
        tubes = 0
        for lo, hi, _ in trip.bags:
            tubes += hi - lo
        old = ledger.trips[trip_id]
        ledger.trips[trip_id] = TripRecord(
            trip_id, old.route, old.vehicle, old.reason, old.depart, now, tubes, trip.stops,
            trip.lab, trip.choice,
        )  # fmt: skip
        lab = self.labs[trip.lab]
        lab.coming -= tubes
        if trip.bags:
            lab.deliver(trip.bags)
        if trip.urgent and self.on_urgent is not None:
            for what in trip.urgent:
                self.on_urgent(what, trip.lab)
        vehicle = trip.vehicle
        vehicle.trip = -1
        vehicle.at = trip.here
        if vehicle.leaving:
            vehicle.leaving = False
        elif not vehicle.out:
            self.idle.append(vehicle)
        self.decide()

    # -- the vehicles' calendar -------------------------------------------------
    def vehicle_out(self, v: int, rule: int) -> None:
        """Vehicle ``v`` goes out of service (``rule``: what becomes of its trip)."""
        vehicle = self.vehicles[v]
        vehicle.out += 1
        if vehicle.out > 1:
            return
        if vehicle.trip < 0:
            self.idle.remove(vehicle)
            return
        trip = self.trips[vehicle.trip]
        if rule != RESUME:
            vehicle.leaving = True
            return
        engine = self.engine
        due, handler, args = engine.entry(trip.event)
        trip.paused = (handler, args, due - engine.env.now)
        engine.cancel(trip.event)

    def vehicle_back(self, v: int) -> None:
        """Vehicle ``v`` is back in service."""
        vehicle = self.vehicles[v]
        vehicle.out -= 1
        if vehicle.out > 0:
            return
        if vehicle.trip >= 0:
            trip = self.trips[vehicle.trip]
            vehicle.leaving = False
            if trip.paused is not None:
                handler, args, left = trip.paused
                trip.paused = None
                trip.event = self.engine.at(left, handler, *args)
            return
        self.idle.append(vehicle)
        self.decide()


@dataclass
class TripState:
    """A trip under way at the moment a round is saved (points by index)."""

    id: int
    vehicle: int  # the vehicle's place in its route
    plan: list[tuple[int, int]]  # (place in the leg table, point index) of the stops planned
    position: int
    here: int
    bags: list[BagSpec]
    stops: int
    event: int
    paused: tuple[str, tuple[Any, ...], float] | None  # method, its arguments, time left
    lab: int
    choice: str


@dataclass
class RouteState:
    """A route's controller and vehicles at the moment a round is saved."""

    schedule: list[float]
    timer_at: float
    idle: list[int]  # vehicles (their place in the route) waiting, first to go first
    vehicles: list[tuple[int, int, bool, int]]  # at, out, leaving, trip of each vehicle
    noise_draws: list[int]  # travel-time factors drawn by each vehicle
    handover_draws: int
    trips: list[TripState]


def snapshot(route: RouteService) -> RouteState:
    """What :func:`restore` needs to carry ``route`` on from now."""
    place = {id(v): k for k, v in enumerate(route.vehicles)}
    trips = []
    for trip in route.trips.values():
        paused = None
        if trip.paused is not None:
            handler, args, left = trip.paused
            paused = (handler.__name__, args, left)
        trips.append(
            TripState(
                trip.id, place[id(trip.vehicle)],
                [(where, stock.index) for where, stock in trip.plan], trip.position, trip.here,
                list(trip.bags), trip.stops, trip.event, paused, trip.lab, trip.choice,
            )
        )  # fmt: skip
    return RouteState(
        schedule=list(route.schedule),
        timer_at=float(route._timer_at),
        idle=[place[id(v)] for v in route.idle],
        vehicles=[(v.at, v.out, v.leaving, v.trip) for v in route.vehicles],
        noise_draws=[v.noise.taken for v in route.vehicles],
        handover_draws=route.handover.taken,
        trips=trips,
    )


def restore(
    route: RouteService,
    state: RouteState,
    stocks: Sequence[PointStock],
    shift: Callable[[int], int],
) -> None:
    """Set ``route`` (built with ``restoring``) to ``state``; ``stocks`` are every point's,
    by index, and ``shift`` maps a saved tube id to this round's."""
    route.schedule = list(state.schedule)
    route._timer_at = state.timer_at
    for vehicle, (at, out, leaving, on), draws in zip(
        route.vehicles, state.vehicles, state.noise_draws, strict=True
    ):
        vehicle.at, vehicle.out, vehicle.leaving, vehicle.trip = at, out, leaving, on
        vehicle.noise.skip(draws)
    route.idle = [route.vehicles[k] for k in state.idle]
    route.handover.skip(state.handover_draws)
    route.trips = {}
    for t in state.trips:
        trip = Trip(
            t.id, route.vehicles[t.vehicle], [(where, stocks[i]) for where, i in t.plan],
            t.position, t.here, [(shift(lo), shift(lo) + hi - lo, p) for lo, hi, p in t.bags],
            t.stops, t.event, None, t.lab, t.choice,
        )  # fmt: skip
        if t.paused is not None:
            name, args, left = t.paused
            trip.paused = (getattr(route, name), args, left)
        route.trips[t.id] = trip


def renumber_events(route: RouteService, new: dict[int, int]) -> None:
    """The trips under way wait for events that were scheduled again under new numbers."""
    for trip in route.trips.values():
        trip.event = new.get(trip.event, trip.event)


def build_transport(
    engine: Engine,
    scenario: Scenario,
    routes: Sequence[Route],
    stocks: dict[str, PointStock],
    labs: Sequence[LabService],
    streams: Streams,
    ledger: Ledger,
    restoring: bool = False,
) -> tuple[list[str], list[RouteService], dict[str, list[VehicleEntry]]]:
    """Start every route's controller; returns the vehicle names, by global vehicle number,
    the routes' controllers (``restoring``: built without their first events) and each
    vehicle's breakdowns (``transport.failures``), for the failures table."""
    travel = TravelTimes(scenario)
    transport = scenario.transport
    schedule = pickup_schedule(transport.pickups, scenario.round.start, scenario.round.horizon)
    dispatcher = Dispatcher.of(scenario, labs)
    names = [f"{route.id}/v{k + 1}" for route in routes for k in range(route.vehicles)]
    calendars = vehicle_entries(scenario, names)
    broken = vehicle_failures(scenario, names, streams)
    for name, entries in broken.items():
        calendars.setdefault(name, []).extend(entries)
    first = 0
    services = []
    for r, route in enumerate(routes):
        vehicles = []
        for k in range(route.vehicles):
            name = names[first + k]
            noise = noise_factors(transport.travel.noise_cv, streams[f"travel/{name}"])
            vehicles.append(Vehicle(first + k, name, noise))
        first += route.vehicles
        service = RouteService(
            engine,
            r,
            route,
            [stocks[pid] for pid in route.points],
            vehicles,
            labs,
            dispatcher,
            travel,
            durations(transport.handover, streams[f"handover/{route.id}"]),
            transport.pickups,
            schedule,
            ledger,
            calendars,
            restoring,
        )
        services.append(service)
    return names, services, broken
