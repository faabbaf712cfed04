"""Distances on the map and the automatic grouping of points into routes."""

from __future__ import annotations

import math

import numpy as np

from ..scenario.schema import Lab, Route, Scenario
from .capacity import expected_tubes, lab_capacity, mean_bag, open_hours

EARTH_RADIUS_M = 6_371_000.0


def great_circle_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance in metres between two (lat, lon) points in degrees."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def great_circle_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Haversine distances in metres between every row of ``a`` and of ``b`` ((lat, lon) degrees)."""
    lat1, lon1 = np.radians(a[:, 0])[:, None], np.radians(a[:, 1])[:, None]
    lat2, lon2 = np.radians(b[:, 0])[None, :], np.radians(b[:, 1])[None, :]
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def routes_for(scenario: Scenario) -> tuple[Route, ...]:
    """The scenario's routes; with automatic routing, built from the map.

    Automatic routing assigns each point to a lab (its nearest, or by capacity
    share: :func:`assign_by_capacity`), sorts a lab's points by bearing around
    it (a sweep) and cuts them into routes of ``points_per_vehicle``
    consecutive points; each route visits its points farthest first, then
    nearest-next, and ends at the lab.
    """
    routes = scenario.transport.routes
    if isinstance(routes, tuple):
        return routes
    labs = [lab for lab in scenario.labs if lab.location is not None]
    lab_xy = np.array([lab.location for lab in labs], dtype=float)
    point_xy = np.array([p.location for p in scenario.points], dtype=float)
    distance = great_circle_matrix(point_xy, lab_xy)
    if routes.assign == "capacity":
        chosen = assign_by_capacity(scenario, labs, distance)
    else:
        chosen = np.argmin(distance, axis=1)
    groups: dict[str, list[int]] = {lab.id: [] for lab in labs}
    for i, k in enumerate(chosen.tolist()):
        groups[labs[k].id].append(i)
    out: list[Route] = []
    for lab in labs:
        members = groups[lab.id]
        if not members:
            continue
        assert lab.location is not None
        lat0, lon0 = lab.location
        where = [scenario.points[i].location for i in members]
        bearing = [
            math.atan2(xy[0] - lat0, (xy[1] - lon0) * math.cos(math.radians(lat0)))
            for xy in where
            if xy is not None
        ]
        ordered = [members[k] for k in np.argsort(bearing, kind="stable")]
        size = routes.points_per_vehicle
        for r, first in enumerate(range(0, len(ordered), size)):
            chunk = ordered[first : first + size]
            out.append(
                Route(
                    id=f"{lab.id}/r{r + 1:03d}",
                    points=tuple(
                        scenario.points[i].id for i in _tour(scenario, chunk, lab.location)
                    ),
                    lab=lab.id,
                    vehicles=routes.vehicles_per_route,
                )
            )
    return tuple(out)


def assign_by_capacity(scenario: Scenario, labs: list[Lab], distance: np.ndarray) -> np.ndarray:
    """The lab of each point when labs take shares of the work in proportion to their capacity.

    A lab's share is its capacity (tubes an hour, its slowest stage) times the
    hours it is open before the last target, over all labs'; its quota is that
    share of the expected tubes (:func:`sim.model.capacity.expected_tubes`).
    Point-lab pairs are taken nearest first: a point goes to the lab if the lab
    has room left in its quota for the point's tubes. A point no lab has room
    for goes to the lab it overloads least (by quota), the nearer on a tie.
    ``distance`` is points x ``labs``.
    """
    load = expected_tubes(scenario)
    bag = mean_bag(scenario)
    weight = np.array(
        [lab_capacity(lab, bag).tubes_per_hour * open_hours(scenario, lab) for lab in labs]
    )
    quota = load.sum() * weight / weight.sum()
    held = np.zeros(len(labs))
    chosen = np.full(load.size, -1, np.int64)
    order = np.argsort(distance, axis=None, kind="stable")
    points, columns = np.unravel_index(order, distance.shape)
    for i, k in zip(points.tolist(), columns.tolist(), strict=True):
        if chosen[i] < 0 and held[k] + load[i] <= quota[k]:
            chosen[i] = k
            held[k] += load[i]
    for i in np.argsort(distance.min(axis=1), kind="stable").tolist():
        if chosen[i] >= 0:
            continue
        over = (held + load[i]) / np.maximum(quota, 1e-9)
        k = int(np.lexsort((distance[i], over))[0])
        chosen[i] = k
        held[k] += load[i]
    return chosen


def _tour(scenario: Scenario, members: list[int], lab: tuple[float, float]) -> list[int]:
    """Farthest point from the lab first, then nearest neighbour: the vehicle ends near the lab."""
    loc = {i: scenario.points[i].location for i in members}
    remaining = sorted(members, key=lambda i: -great_circle_m(loc[i], lab))  # type: ignore[arg-type]
    tour = [remaining.pop(0)]
    while remaining:
        last = loc[tour[-1]]
        nearest = min(remaining, key=lambda i: great_circle_m(last, loc[i]))  # type: ignore[arg-type]
        remaining.remove(nearest)
        tour.append(nearest)
    return tour
