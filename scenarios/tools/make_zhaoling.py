"""Write the seed district's zones and sampling points: Zhaoling District (召陵区), Luohe, Henan.

Run from the repository root:

    python scenarios/tools/make_zhaoling.py

It writes ``scenarios/data/zhaoling-zones.csv`` (one row per grid: id, population,
point, lat, lon) and ``scenarios/data/zhaoling-points.csv`` (one row per sampling
point: id, lat, lon, stations), and prints a one-line summary. The output is
deterministic: every random draw comes from one numpy Generator with a fixed
seed (no global seeding), so running it twice gives identical files.

The grids and points are SYNTHETIC. The published facts (all from
docs/sources.md) are the totals: the population, the number of grids,
the units the district ran and their approximate seats. Where each grid lies,
how many people it holds and where the points stand were not published, so
they are drawn here around those facts. Replace the CSVs with the real grid
register when it is available; the scenario YAML does not change.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

SEED = 20220418  # any fixed number; changing it gives another, equally plausible district

# docs/sources.md, seed district: population 400,875 at the 2020 census (OBS).
POPULATION = 400_875
# docs/sources.md, seed district: urban population 190,797 at the 2020 census (OBS).
URBAN_POPULATION = 190_797
# docs/sources.md, seed district: 5,275 grids, 6,814 grid staff (seed article, OBS):
# about 76 people a grid.
GRIDS = 5_275
# docs/sources.md, Guidelines: one sampling point per 2,000-3,000 residents (urban), ~1,200 in
# counties (REQ/OBS). Zhaoling mixes both; one per 2,000 gives ~200 points.
RESIDENTS_PER_POINT = 2_000
# Stations scale with a point's population: ceil(population / 550), 2 to 8. Sizing:
# docs/sources.md, Guidelines: samplers about population / 360 (REQ/OBS) = ~1,110 for the
# district; docs/sources.md, Collect: 1 sampler + 1 registrar a station, 2-3 teams a station
# for rotation (OBS), so ~1,110 samplers staff ~740 stations at 1.5 teams each. At 25 s
# service + 40 s per 10-tube change (~29 s a resident) a station swabs ~124 an hour, so
# ~520 participants (550 x 0.95) take ~4.2 h plus two 20-min breaks: a front-loaded
# 07:00-12:00 window builds a morning line that clears by about noon. (Fewer stations, e.g.
# the 1.8-2.6 a point observed in big cities, docs/sources.md OBS, give lines of hours.)
RESIDENTS_PER_STATION = 550
MIN_STATIONS, MAX_STATIONS = 2, 8

# The seven units the district ran in 2022 and their approximate seats (docs/sources.md,
# seed district: unit list OFF/EST; seats are estimates, about +-5 km). 姬石镇 is left out:
# it was probably run by the demonstration zone (docs/sources.md).
# Population split (EST, ours): the three urban streets share the census urban population
# 190,797; 召陵镇 ~80,000 (2017) and 老窝镇 ~75,000 (docs/sources.md, OBS); 万金镇 and 青年镇
# share the remaining 55,078.
# radius_km: grids lie within this radius of the seat, a little denser towards it (see
# scatter()); the mean distance from the seat is 0.625 x radius: ~1.5 km for the compact
# urban streets (radius 2.5 km), ~4 km for the towns, whose villages spread wider.
UNITS = [
    # code, name,      lat,    lon,     population, radius_km
    ("TQ", "天桥街道", 33.578, 114.040, 70_000, 2.5),
    ("ZZ", "翟庄街道", 33.553, 114.048, 56_000, 2.5),
    ("DC", "东城街道", 33.572, 114.085, URBAN_POPULATION - 70_000 - 56_000, 2.5),
    ("ZL", "召陵镇", 33.567, 114.130, 80_000, 6.5),
    ("WJ", "万金镇", 33.495, 114.165, 29_000, 6.5),
    ("LW", "老窝镇", 33.630, 114.210, 75_000, 7.0),
    # 青年镇 takes the rest: 400,875 - 190,797 - 80,000 - 75,000 - 29,000 = 26,078
    ("QN", "青年镇", 33.560, 114.220, 26_078, 6.5),
]

KM_PER_DEG_LAT = 111.32
GRID_SIZE_SHAPE = 8.0  # gamma shape for grid sizes: coefficient of variation 1/sqrt(8) ~ 0.35
KMEANS_ITERATIONS = 100

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "scenarios" / "data"


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total``."""
    exact = weights / weights.sum() * total
    out = np.floor(exact).astype(np.int64)
    short = total - int(out.sum())
    order = np.argsort(-(exact - out), kind="stable")
    out[order[:short]] += 1
    return out


def scatter(n: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` positions (km east, km north) in a disc of ``radius`` around the seat.

    The distance is radius x u^0.6 for u uniform: the grid density falls off gently
    (as distance^-1/3) from the seat, so the centre is denser without the long tail a
    normal scatter would give (a lone grid 15 km out would become its own point).
    """
    r = radius * rng.random(n) ** 0.6
    theta = rng.uniform(0.0, 2.0 * math.pi, n)
    return np.column_stack((r * np.cos(theta), r * np.sin(theta)))


def weighted_kmeans(
    xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Population-weighted k-means (k-means++ start, Lloyd iterations) in plain numpy.

    Returns (centres, label); on return every grid's label is its nearest centre and
    no centre is empty.
    """
    n = len(xy)
    centres = np.empty((k, 2))
    centres[0] = xy[rng.choice(n, p=w / w.sum())]
    d2 = ((xy - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        p = w * d2
        centres[j] = xy[rng.choice(n, p=p / p.sum())]
        d2 = np.minimum(d2, ((xy - centres[j]) ** 2).sum(axis=1))
    label = np.full(n, -1)
    for _ in range(KMEANS_ITERATIONS):
        dist = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        new = dist.argmin(axis=1)
        mass = np.bincount(new, weights=w, minlength=k)
        empty = np.flatnonzero(mass == 0)
        for j in empty:  # reseed an empty centre at the grid worst served
            far = int(dist[np.arange(n), new].argmax())
            centres[j] = xy[far]
            new[far] = j
        if not len(empty) and np.array_equal(new, label):
            break
        label = new
        mass = np.bincount(label, weights=w, minlength=k)
        for axis in (0, 1):
            centres[:, axis] = np.bincount(label, weights=w * xy[:, axis], minlength=k) / mass
    # the point stands at its centre; make sure each grid goes to its nearest point
    dist = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    label = dist.argmin(axis=1)
    return centres, label


def main() -> None:
    rng = np.random.default_rng(SEED)
    unit_pop = np.array([u[4] for u in UNITS])
    assert unit_pop.sum() == POPULATION
    grids_per_unit = largest_remainder(unit_pop.astype(float), GRIDS)

    zone_rows: list[tuple[str, int, str, float, float]] = []
    point_rows: list[tuple[str, float, float, int]] = []
    point_population: list[int] = []
    for (code, _name, lat0, lon0, pop, radius), n_grids in zip(UNITS, grids_per_unit, strict=True):
        km_per_deg_lon = KM_PER_DEG_LAT * math.cos(math.radians(lat0))
        # grid positions in km east/north of the unit seat
        xy = scatter(n_grids, radius, rng)
        # grid populations vary around the unit's mean (~76), summing to the unit exactly
        sizes = largest_remainder(rng.gamma(GRID_SIZE_SHAPE, 1.0, n_grids), pop)
        k = max(1, round(pop / RESIDENTS_PER_POINT))
        centres, label = weighted_kmeans(xy, sizes.astype(float), k, rng)
        # number points north to south, then west to east, so ids read like a map
        order = np.lexsort((centres[:, 0], -centres[:, 1]))
        rank = np.empty(k, dtype=int)
        rank[order] = np.arange(k)
        ids = [f"ZL-{code}-{r + 1:03d}" for r in range(k)]
        served = np.bincount(label, weights=sizes, minlength=k).astype(int)
        for j in order:
            lat = round(lat0 + centres[j, 1] / KM_PER_DEG_LAT, 6)
            lon = round(lon0 + centres[j, 0] / km_per_deg_lon, 6)
            stations = math.ceil(served[j] / RESIDENTS_PER_STATION)
            stations = int(np.clip(stations, MIN_STATIONS, MAX_STATIONS))
            point_rows.append((ids[rank[j]], lat, lon, stations))
            point_population.append(int(served[j]))
        # grids listed by point, so a planner reading the CSV sees each point's grids together
        for g in np.lexsort((np.arange(n_grids), rank[label])):
            lat = round(lat0 + xy[g, 1] / KM_PER_DEG_LAT, 6)
            lon = round(lon0 + xy[g, 0] / km_per_deg_lon, 6)
            zone_rows.append(("", int(sizes[g]), ids[rank[label[g]]], lat, lon))

    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "zhaoling-zones.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["id", "population", "point", "lat", "lon"])
        for i, (_, population, point, lat, lon) in enumerate(zone_rows, start=1):
            out.writerow([f"G-{i:05d}", population, point, f"{lat:.6f}", f"{lon:.6f}"])
    with open(OUT / "zhaoling-points.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["id", "lat", "lon", "stations"])
        for pid, lat, lon, stations in point_rows:
            out.writerow([pid, f"{lat:.6f}", f"{lon:.6f}", stations])

    total = sum(r[1] for r in zone_rows)
    assert total == POPULATION and len(zone_rows) == GRIDS
    stations = sum(r[3] for r in point_rows)
    pp = np.array(point_population)
    print(
        f"zhaoling: {len(zone_rows):,} zones, {len(point_rows)} points, population {total:,}, "
        f"{stations} stations (residents a point {pp.min():,}-{pp.max():,}, "
        f"median {int(np.median(pp)):,}; "
        f"{total / stations:.0f} a station)"
    )


if __name__ == "__main__":
    main()
