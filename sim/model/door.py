"""Door-to-door sampling (上门采样): teams swab homebound residents at home, one tube a household.

Who is homebound is fixed by the scenario (:func:`~sim.model.homebound.homebound`),
not drawn: a zone's own count, or a share of its people. They do not walk to a
point, so the points' demand is drawn from the rest
(:func:`~sim.model.homebound.walking_zones`).

A team's day depends on nothing else in the round: it drives between zones and
households and swabs, and no line, vehicle or lab can hold it up. So the whole
schedule is worked out before the round's loop starts (:func:`schedule`), and
its tubes enter the round as tubes of their base point: with ``tubes: base``
they are handed over at the base and wait there among the point's sealed tubes
for the route's vehicles; with ``tubes: courier`` a courier takes each team
trip's tubes from the last door straight to the base route's lab
(:class:`Couriers`, an event of the loop at the delivery time). Either way the
lab, the ledger and every table see them as they see any tube (station -1).

Draws: ``door/between/<base>`` (walks between households) and
``door/drive/<base>`` (the travel noise of every drive, couriers' included), so
adding a team at one base moves nothing at another, and nothing at a point.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..random import Streams
from ..scenario.schema import Route, Scenario
from .draws import Buffered, durations, noise_factors
from .engine import Engine
from .geo import great_circle_m, great_circle_matrix
from .lab import LabService
from .ledger import Ledger, StopRecord, TripRecord
from .transport import TravelTimes

H = 3600.0
COURIER_REASON = "door-to-door"  # the reason of a courier's trip in the trips table


@dataclass(frozen=True)
class DoorRound:
    """Every household the teams visit, one row (and one tube) each, in seconds from the
    round's start. ``handed`` is when the tube left the team (handed over at the base, or
    to a courier at the door); ``lab`` and ``delivered`` are the courier's (-1, NaN at
    the base)."""

    base: np.ndarray  # point index of the team's base
    zone: np.ndarray  # zone row
    team: np.ndarray  # team number (over all bases, in the order listed)
    trip: np.ndarray  # the team's trip number (over all teams)
    size: np.ndarray  # residents in the household
    arrive: np.ndarray
    swabbed: np.ndarray
    handed: np.ndarray
    lab: np.ndarray
    delivered: np.ndarray

    def __len__(self) -> int:
        return int(self.base.size)

    @property
    def residents(self) -> int:
        return int(self.size.sum())


class _Places:
    """Driving times between zones, points and labs: from the zones' own coordinates,
    else their point's (by name, so a matrix entry applies)."""

    def __init__(self, scenario: Scenario, travel: TravelTimes) -> None:
        self.travel = travel
        self.zones = scenario.demand.zones
        self.factor = travel.factor

    def _where(self, zone: int) -> tuple[float, float] | None:
        lat, lon = self.zones.lat[zone], self.zones.lon[zone]
        return None if np.isnan(lat) or np.isnan(lon) else (float(lat), float(lon))

    def zone_to(self, zone: int, place: str) -> float:
        """Zone ``zone`` to a point or lab by id."""
        here, there = self._where(zone), self.travel.where.get(place)
        if here is not None and there is not None:
            return great_circle_m(here, there) * self.factor
        return self.travel.base(str(self.zones.point[zone]), place)

    def zones_to(self, zones: np.ndarray, places: list[str]) -> np.ndarray:
        """Drives from each of ``zones`` to each of ``places`` (rows: zones): in one pass
        from the map when every zone and place has coordinates and no matrix is given."""
        where = [self.travel.where.get(p) for p in places]
        lat, lon = self.zones.lat[zones], self.zones.lon[zones]
        if (
            not self.travel.matrix
            and all(w is not None for w in where)
            and not (np.isnan(lat).any() or np.isnan(lon).any())
        ):
            xy = np.array(where, dtype=float).reshape(-1, 2)
            return great_circle_matrix(np.stack([lat, lon], axis=1), xy) * self.factor
        return np.array([[self.zone_to(int(z), p) for p in places] for z in zones]).reshape(
            zones.size, len(places)
        )

    def zone_to_zone(self, a: int, b: int) -> float:
        pa, pb = self._where(a), self._where(b)
        if pa is not None and pb is not None:
            return great_circle_m(pa, pb) * self.factor
        return self.travel.base(str(self.zones.point[a]), str(self.zones.point[b]))


def _route_lab(scenario: Scenario, routes: tuple[Route, ...], point: str) -> int:
    labs = [lab.id for lab in scenario.labs]
    for route in routes:
        if point in route.points:
            return labs.index(route.lab)
    raise ValueError(f"door-to-door base '{point}' is on no route: its couriers have no lab")


def schedule(
    scenario: Scenario, streams: Streams, routes: tuple[Route, ...], home: np.ndarray
) -> DoorRound:
    """Every team's day (see :class:`~sim.scenario.schema.DoorToDoor` for the rules)."""
    door = scenario.door_to_door
    assert door is not None
    places = _Places(scenario, TravelTimes(scenario))
    point_index = {p.id: i for i, p in enumerate(scenario.points)}
    bases = [team.base for team in door.teams]
    # each zone with homebound residents goes to its nearest base (ties: listed first)
    need = np.flatnonzero(home > 0)
    to_base = places.zones_to(need, bases)
    nearest = to_base.argmin(axis=1) if need.size else np.empty(0, np.int64)
    start = (door.start if door.start is not None else scenario.round.start) - scenario.round.start
    rows: list[tuple[float, ...]] = []
    first_team = 0
    for b, spec in enumerate(door.teams):
        mine = nearest == b
        zones = need[mine][np.argsort(to_base[mine, b], kind="stable")]  # nearest first
        households = [
            (int(z), min(door.household_size, int(home[z]) - k))
            for z in zones
            for k in range(0, int(home[z]), door.household_size)
        ]
        lab = _route_lab(scenario, routes, spec.base) if door.tubes == "courier" else -1
        day = _BaseDay(
            places, spec.base, scenario.labs[lab].id if lab >= 0 else None,
            durations(door.between, streams[f"door/between/{spec.base}"]),
            noise_factors(scenario.transport.travel.noise_cv, streams[f"door/drive/{spec.base}"]),
            H / door.households_per_hour, door.households_per_trip,
        )  # fmt: skip
        for row in day.run(households, start, first_team, spec.teams, first_trip=len(rows)):
            rows.append((b, *row, lab))
        first_team += spec.teams
    table = np.array(rows, dtype=float).reshape(-1, 10)
    # trips were numbered per base from the rows before it: renumber them 0, 1, ... overall
    _, trip = np.unique(table[:, 3], return_inverse=True)
    base_points = np.array([point_index[b] for b in bases], np.int64)
    return DoorRound(
        base=base_points[table[:, 0].astype(np.int64)],
        zone=table[:, 1].astype(np.int64),
        team=table[:, 2].astype(np.int64),
        trip=trip.astype(np.int64),
        size=table[:, 4].astype(np.int64),
        arrive=table[:, 5],
        swabbed=table[:, 6],
        handed=table[:, 7],
        delivered=table[:, 8],
        lab=table[:, 9].astype(np.int32),
    )


class _BaseDay:
    """The teams of one base working through its households, earliest-free team first
    (ties: the lower team number)."""

    def __init__(
        self,
        places: _Places,
        base: str,
        lab: str | None,
        walk: Buffered,
        noise: Buffered,
        at_door: float,
        per_trip: int,
    ) -> None:
        self.places = places
        self.base = base
        self.lab = lab  # the couriers' lab (None: the tubes go back to the base)
        self.walk = walk
        self.noise = noise
        self.at_door = at_door
        self.per_trip = per_trip

    def run(
        self,
        households: list[tuple[int, int]],
        start: float,
        first_team: int,
        teams: int,
        first_trip: int,
    ) -> list[list[float]]:
        """Rows of (zone, team, trip, size, arrive, swabbed, handed, delivered) in visit order."""
        rows: list[list[float]] = []
        # (free at, team, zone it is in: -1 at the base)
        free = [(start, first_team + t, -1) for t in range(teams)]
        heapq.heapify(free)
        carried: dict[int, list[int]] = {first_team + t: [] for t in range(teams)}
        trip_of: dict[int, int] = {}
        next_trip = first_trip
        for zone, size in households:
            t, team, where = heapq.heappop(free)
            if where == zone:
                leg = self.walk()
            elif where < 0:
                leg = self.places.zone_to(zone, self.base) * self.noise()
            else:
                leg = self.places.zone_to_zone(where, zone) * self.noise()
            if not carried[team]:  # a new trip
                trip_of[team] = next_trip
                next_trip += 1
            arrive = t + leg
            t = arrive + self.at_door
            carried[team].append(len(rows))
            rows.append([zone, team, trip_of[team], size, arrive, t, np.nan, np.nan])
            if len(carried[team]) == self.per_trip:
                t, zone = self._hand_on(rows, carried[team], t, zone)
                carried[team] = []
            heapq.heappush(free, (t, team, zone))
        for t, team, where in sorted(free, key=lambda f: f[1]):
            if carried[team]:
                self._hand_on(rows, carried[team], t, where)
        return rows

    def _hand_on(
        self, rows: list[list[float]], trip: list[int], t: float, zone: int
    ) -> tuple[float, int]:
        """A trip's tubes go: the team drives them back to its base, or a courier takes them
        from the door to the lab (the team goes on). Returns when and where the team is free."""
        if self.lab is None:
            handed = t + self.places.zone_to(zone, self.base) * self.noise()
            delivered, t, zone = np.nan, handed, -1
        else:
            handed, delivered = t, t + self.places.zone_to(zone, self.lab) * self.noise()
        for row in trip:
            rows[row][6], rows[row][7] = handed, delivered
        return t, zone


class Couriers:
    """The couriers of ``tubes: courier``: each team trip's tubes reach the lab at their
    ``delivered`` time and are handed in as bags, recorded as a trip of its own (reason
    ``door-to-door``) on the base's route, by the courier "vehicle" of that base."""

    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        labs: list[LabService],
        trips: list[tuple[int, int, int, int, float, float]],
        route_of: dict[int, int],
        vehicle_of: dict[int, int],
        tubes_per_bag: dict[int, int],
    ) -> None:
        self.engine = engine
        self.ledger = ledger
        self.labs = labs
        self.route_of = route_of
        self.vehicle_of = vehicle_of
        self.tubes_per_bag = tubes_per_bag
        for trip in trips:
            engine.at(trip[5], self.delivered, trip)

    def delivered(self, trip: tuple[int, int, int, int, float, float]) -> None:
        lo, hi, point, lab, picked_up, _ = trip
        ledger = self.ledger
        now = self.engine.env.now
        number = len(ledger.trips)
        ledger.trips.append(
            TripRecord(
                number, self.route_of[point], self.vehicle_of[point], COURIER_REASON, picked_up,
                now, hi - lo, 1, lab, "courier",
            )
        )  # fmt: skip
        ledger.stops.append(StopRecord(number, point, picked_up, picked_up, hi - lo, lo, hi))
        step = self.tubes_per_bag[point]
        self.labs[lab].deliver([(a, min(a + step, hi), point) for a in range(lo, hi, step)])


def door_table(
    door: DoorRound, scenario: Scenario, replication: int, tube: np.ndarray
) -> pd.DataFrame:
    """One row per household visited: its team, base, zone, residents, tube and times (hours;
    past the horizon NaN)."""
    horizon = scenario.round.horizon

    def hours(t: np.ndarray) -> np.ndarray:
        return np.where(t <= horizon, t / H, np.nan)

    return pd.DataFrame(
        {
            "replication": np.full(len(door), replication, np.int64),
            "team": door.team,
            "trip": door.trip,
            "base": pd.array([scenario.points[i].id for i in door.base], dtype="str"),
            "zone": pd.array(scenario.demand.zones.id[door.zone].astype(str), dtype="str"),
            "residents": door.size,
            "tube": tube,
            "arrive_h": hours(door.arrive),
            "swabbed_h": hours(door.swabbed),
            "handed_h": hours(door.handed),
            "delivered_h": hours(door.delivered),
        }
    )
