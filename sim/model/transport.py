"""Transport (送): vehicles on routes pick up sealed tubes and drive them to a lab.

A route's controller decides when a vehicle sets out; the rules, in order:

1. **schedule** — a pickup time (``first``, then every ``every``) has come;
2. **threshold** — a point holds at least ``when_tubes`` tubes;
3. **sweep** — a point has sealed its last tube and still holds some.

Threshold and sweep ignore a point that a vehicle already under way will still
visit. A trip visits, in route order, every point of the route that is not
finished (closed, last tube sealed and taken); it hands over (``handover``)
where tubes are waiting, taking every tube sealed by its arrival, then drives
to the route's lab and delivers them, bagged by the point (``tubes_per_bag``).
If every vehicle is out, the trip leaves when one comes back. Vehicles are
based at their lab.

Travel time = great-circle distance x detour / speed (or the matrix entry) x a
mean-one gamma noise factor, drawn per leg from the vehicle's own stream.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ..random import Streams
from ..scenario.schema import Pickups, Route, Scenario
from .draws import Buffered, durations, noise_factors
from .geo import great_circle_m, great_circle_matrix
from .ledger import Ledger

Bag = tuple[int, int, int]  # tube range lo:hi and the point it came from
# the bags, and when the vehicle set out on its last leg: SimPy takes events due at the
# same instant in the order they were scheduled, and the labs replay that order
Deliver = Callable[[list[Bag], float], None]


class PointStock:
    """Sealed tubes of one point waiting for a vehicle (tubes lo:hi of the ledger).

    The seal times are kept as a Python list: the controller asks "how many are
    sealed by now" tens of thousands of times, and ``bisect`` on a list costs a
    tenth of a scalar ``numpy.searchsorted``.
    """

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

    def held(self, t: float) -> int:
        return bisect_right(self.sealed, t) - self.taken

    def finished(self, t: float) -> bool:
        return self.taken == len(self.sealed) and self.done_at <= t

    def threshold_time(self, n: int) -> float:
        k = self.taken + n - 1
        return self.sealed[k] if k < len(self.sealed) else np.inf

    def take(self, n: int) -> list[Bag]:
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


@dataclass
class Vehicle:
    index: int  # global vehicle number
    name: str
    noise: Buffered  # travel-time factors, one per leg


class RouteService:
    """The controller and vehicles of one route."""

    def __init__(
        self,
        env: simpy.Environment,
        route_index: int,
        route: Route,
        stocks: Sequence[PointStock],
        vehicles: list[Vehicle],
        deliver: Deliver,
        travel: TravelTimes,
        handover: Buffered,
        pickups: Pickups,
        schedule: list[float],
        ledger: Ledger,
    ) -> None:
        self.env = env
        self.route_index = route_index
        self.route = route
        self.stocks = list(stocks)
        self.idle = list(vehicles)
        self.vehicles = len(vehicles)
        self.deliver = deliver
        # leg times: place 0 is the lab, place i + 1 the route's i-th point
        self.legs = travel.between([route.lab, *(stock.key for stock in self.stocks)])
        self.handover = handover
        self.schedule = list(schedule)
        self.when_tubes = pickups.when_tubes
        self.final_sweep = pickups.final_sweep
        self.ledger = ledger
        self._timer_at = np.nan  # when the pending timer rings (NaN: none)
        env.timeout(0).callbacks.append(self._decide)

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

    def _decide(self, _event: simpy.Event | None = None) -> None:
        """Send out every vehicle there is a reason and a vehicle for; then set a timer.

        Called at the start, when a vehicle comes back, when a trip releases a point
        and when the timer rings. The timer is set for the next moment a reason can
        arise (a scheduled pickup, a point reaching the threshold or closing); a
        timer made stale by a later decision is ignored when it rings.
        """
        env = self.env
        now = env.now
        if all(s.finished(now) for s in self.stocks):
            return
        reason = self._reason(now)
        while reason is not None and self.idle:
            while self.schedule and self.schedule[0] <= now:
                self.schedule.pop(0)
            # the points to visit, with their place in the leg table (0 is the lab)
            plan = [(i + 1, s) for i, s in enumerate(self.stocks) if not s.finished(now)]
            for _, s in plan:
                s.covered = True
            env.process(self._trip(self.idle.pop(0), plan, reason))
            reason = self._reason(now)
        if reason is None:
            wake = self._next_wake(now)
            if wake < math.inf and wake != self._timer_at:
                self._timer_at = wake
                env.timeout(wake - now, wake).callbacks.append(self._ring)

    def _ring(self, event: simpy.Event) -> None:
        if event.value == self._timer_at:
            self._timer_at = np.nan
            self._decide()

    def _trip(
        self, vehicle: Vehicle, plan: list[tuple[int, PointStock]], reason: str
    ) -> Generator[Any, Any, None]:
        env = self.env
        ledger = self.ledger
        trip_id = len(ledger.trips)
        ledger.trips.append(
            (trip_id, self.route_index, vehicle.index, reason, env.now, np.nan, 0, 0)
        )
        depart = env.now
        legs = self.legs
        noise = vehicle.noise
        here = 0  # the lab
        bags: list[Bag] = []
        stops = 0
        alone = self.vehicles == 1
        for there, stock in plan:
            leg = legs[here][there]
            drive = leg * noise() if leg > 0 else leg
            here = there
            if alone:
                # nobody else takes from this point before we arrive, so what we will find
                # is known now: drive and hand over in one event (same times, same draws)
                arrive = env.now + drive
                n = stock.held(arrive)
                yield env.timeout(drive + self.handover() if n > 0 else drive)
            else:
                yield env.timeout(drive)
                arrive = env.now
                n = stock.held(arrive)
                if n > 0:
                    yield env.timeout(self.handover())
            if n > 0:
                taken = stock.take(n)
                lo, hi = taken[0][0], taken[-1][1]
                ledger.tube_picked_up[lo:hi] = env.now
                ledger.tube_trip[lo:hi] = trip_id
                ledger.stops.append((trip_id, stock.index, arrive, env.now, n))
                bags.extend(taken)
                stops += 1
            stock.covered = False
            if self.idle:  # an idle vehicle may now be needed for this point (threshold, sweep)
                self._decide()
        leg = legs[here][0]
        last_leg_from = env.now
        yield env.timeout(leg * noise() if leg > 0 else leg)
        tubes = sum(hi - lo for lo, hi, _ in bags)
        for lo, hi, _ in bags:
            ledger.tube_delivered[lo:hi] = env.now
        ledger.trips[trip_id] = (
            trip_id,
            self.route_index,
            vehicle.index,
            reason,
            depart,
            env.now,
            tubes,
            stops,
        )
        if bags:
            self.deliver(bags, last_leg_from)
        self.idle.append(vehicle)
        self._decide()


def build_transport(
    env: simpy.Environment,
    scenario: Scenario,
    routes: Sequence[Route],
    stocks: dict[str, PointStock],
    deliver_to: dict[str, Deliver],
    streams: Streams,
    ledger: Ledger,
) -> list[str]:
    """Start every route's controller; returns the vehicle names, by global vehicle number."""
    travel = TravelTimes(scenario)
    transport = scenario.transport
    schedule = pickup_schedule(transport.pickups, scenario.round.start, scenario.round.horizon)
    names: list[str] = []
    for r, route in enumerate(routes):
        vehicles = []
        for k in range(route.vehicles):
            name = f"{route.id}/v{k + 1}"
            noise = noise_factors(transport.travel.noise_cv, streams[f"travel/{name}"])
            vehicles.append(Vehicle(len(names), name, noise))
            names.append(name)
        RouteService(
            env,
            r,
            route,
            [stocks[pid] for pid in route.points],
            vehicles,
            deliver_to[route.lab],
            travel,
            durations(transport.handover, streams[f"handover/{route.id}"]),
            transport.pickups,
            schedule,
            ledger,
        )
    return names
