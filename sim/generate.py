"""Synthetic city scenarios sized by the published ratios, for planning exercises and benchmarks.

``generate_city(population, seed)`` lays a city of ``population`` people on a
plausible map and sizes every resource from ``docs/sources.md``:

* grids of about 76 people (Zhaoling: 5,275 grids for 400,875 people, OBS);
* one sampling point per ~2,500 residents (one per 2,000-3,000 urban, REQ/OBS),
  stations so that a station serves ~550 people (samplers ~ population / 360,
  REQ/OBS, rotating 2-3 teams a station, OBS);
* about 3 points a vehicle (Zhengzhou: 2,000 vehicles for 6,398 points, OBS);
* labs: one per ~500,000 people, PCR instruments sized so the district's tubes
  (10-in-1) are amplified in ~9 hours of lab time (75-min runs of 94 samples,
  OBS), loading and extraction 1.4x the PCR rate, receiving 2x (at the bags that
  form, ``BAG_TUBES`` tubes, not full bags of 50), reporting 1.7x;
* sampling 07:00-12:00, front-loaded (EST), pickups every 2 h plus a sweep.

Density falls off from a few district centres (a mixture of Gaussian blobs), so
points are dense downtown and sparse at the edge. Points are formed by cutting
the zones, ordered along a Z-order (Morton) curve, into runs of ~2,500
residents: spatially compact, O(n log n), no clustering library. Labs sit at
the population centroids of equal-population runs of points; each lab is sized
for the points nearest to it, which is what automatic routing will send it.

Everything is drawn from one generator seeded by ``seed``: the same call
writes the same files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .scenario.schema import BAG_TUBES

PEOPLE_PER_GRID = 76  # docs/sources.md, seed district: 5,275 grids for 400,875 people (OBS)
RESIDENTS_PER_POINT = (
    2_500  # docs/sources.md, Guidelines: one point per 2,000-3,000 urban (REQ/OBS)
)
PEOPLE_PER_STATION = 550  # samplers ~ population / 360, 2-3 teams a station (REQ/OBS), see zhaoling
POINTS_PER_VEHICLE = 3  # docs/sources.md, Transport (OBS)
PEOPLE_PER_LAB = 500_000  # ours: one lab per half-million people
PARTICIPATION = 0.95  # docs/sources.md, Collect (OBS/EST)
POOL = 10  # docs/sources.md, Guidelines: 10-in-1 (REQ)
SAMPLES_PER_PLATE = 94  # docs/sources.md, Test: 96 wells, 2 controls (standard)
PCR_RUN_H = 75 / 60  # docs/sources.md, Test: 60-100 min a plate (OBS)
LAB_HOURS = 9.0  # ours: tubes reach labs 08:30-14:00; amplify them all by ~18:00-19:00
CENTRE = (34.75, 113.65)  # a central-plains city (Zhengzhou's latitude), for plausible distances
DENSITY_PER_KM2 = 8_000  # ours: average urban density of the generated area


@dataclass(frozen=True)
class City:
    """A generated city: its scenario YAML text and its two tables."""

    yaml: str
    zones: pd.DataFrame
    points: pd.DataFrame

    def write(self, path: str | Path) -> Path:
        """Write ``NAME.yaml`` with ``NAME-zones.csv`` and ``NAME-points.csv`` beside it."""
        path = Path(path)
        if path.suffix not in (".yaml", ".yml"):
            path = path.with_suffix(".yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        stem = path.stem
        self.zones.to_csv(path.parent / f"{stem}-zones.csv", index=False)
        self.points.to_csv(path.parent / f"{stem}-points.csv", index=False)
        path.write_text(self.yaml.replace("@STEM@", stem), encoding="utf-8")
        return path


def _morton(x: np.ndarray, y: np.ndarray, bits: int = 16) -> np.ndarray:
    """Interleave the bits of x and y (integers in [0, 2**bits)) into a Z-order key."""
    key = np.zeros(x.shape, dtype=np.int64)
    for b in range(bits):
        key |= ((x >> b) & 1) << (2 * b)
        key |= ((y >> b) & 1) << (2 * b + 1)
    return key


def _cut(weights: np.ndarray, target: float) -> np.ndarray:
    """Group consecutive items into runs of about ``target`` total weight; returns run numbers."""
    runs = max(1, round(float(weights.sum()) / target))
    edges = np.cumsum(weights) - weights / 2
    return np.minimum((edges / weights.sum() * runs).astype(np.int64), runs - 1)


def generate_city(population: int, seed: int = 1, name: str | None = None) -> City:
    """A city of ``population`` people; see the module docstring for the ratios used."""
    if population < 1_000:
        raise ValueError("a generated city needs at least 1,000 people")
    rng = np.random.default_rng([seed, population])
    km_lat = 111.32
    km_lon = 111.32 * math.cos(math.radians(CENTRE[0]))

    # -- zones: grids of ~76 people around a few district centres --------------------
    n_zones = max(1, round(population / PEOPLE_PER_GRID))
    radius_km = math.sqrt(population / DENSITY_PER_KM2 / math.pi)
    n_centres = max(1, round(math.sqrt(population / 250_000)))
    centres = rng.normal(0, radius_km * 0.45, (n_centres, 2))
    centres[0] = 0.0
    spread = radius_km * rng.uniform(0.2, 0.45, n_centres) / math.sqrt(n_centres) ** 0.5
    share = rng.dirichlet(np.full(n_centres, 3.0))
    which = rng.choice(n_centres, n_zones, p=share)
    xy = centres[which] + rng.normal(0, 1, (n_zones, 2)) * spread[which, None]
    pop = rng.gamma(4.0, PEOPLE_PER_GRID / 4.0, n_zones)
    pop = np.maximum(1, np.round(pop * population / pop.sum())).astype(np.int64)
    pop[np.argmax(pop)] += population - pop.sum()  # exact total

    # -- points: Z-order runs of ~2,500 residents -------------------------------------
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    grid = ((xy - lo) / np.maximum(hi - lo, 1e-9) * 65535).astype(np.int64)
    order = np.argsort(_morton(grid[:, 0], grid[:, 1]), kind="stable")
    point_of = np.empty(n_zones, dtype=np.int64)
    point_of[order] = _cut(pop[order].astype(float) * PARTICIPATION, RESIDENTS_PER_POINT)
    n_points = int(point_of.max()) + 1
    point_pop = np.bincount(point_of, weights=pop, minlength=n_points)
    point_xy = np.stack(
        [
            np.bincount(point_of, weights=pop * xy[:, k], minlength=n_points) / point_pop
            for k in (0, 1)
        ],
        axis=1,
    )
    stations = np.clip(np.ceil(point_pop / PEOPLE_PER_STATION), 2, 12).astype(np.int64)

    # -- labs: centroids of equal-population runs of points, sized by nearest points ---
    n_labs = max(1, round(population / PEOPLE_PER_LAB))
    point_order = np.argsort(
        _morton(*(((point_xy - lo) / np.maximum(hi - lo, 1e-9) * 65535).astype(np.int64).T))
    )
    lab_run = np.empty(n_points, dtype=np.int64)
    lab_run[point_order] = _cut(point_pop[point_order], population / n_labs)
    n_labs = int(lab_run.max()) + 1
    lab_xy = (
        np.stack(
            [
                np.bincount(lab_run, weights=point_pop * point_xy[:, k], minlength=n_labs)
                for k in (0, 1)
            ],
            axis=1,
        )
        / np.bincount(lab_run, weights=point_pop, minlength=n_labs)[:, None]
    )
    nearest = np.argmin(((point_xy[:, None, :] - lab_xy[None, :, :]) ** 2).sum(axis=2), axis=1)
    lab_people = np.bincount(nearest, weights=point_pop, minlength=n_labs)

    def lat_lon(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.round(CENTRE[0] + v[:, 1] / km_lat, 6), np.round(CENTRE[1] + v[:, 0] / km_lon, 6)

    point_ids = np.array([f"P{i + 1:05d}" for i in range(n_points)])
    zlat, zlon = lat_lon(xy)
    zones = pd.DataFrame(
        {
            "id": [f"G{i + 1:07d}" for i in range(n_zones)],
            "population": pop,
            "point": point_ids[point_of],
            "lat": zlat,
            "lon": zlon,
        }
    )
    plat, plon = lat_lon(point_xy)
    points = pd.DataFrame({"id": point_ids, "lat": plat, "lon": plon, "stations": stations})
    llat, llon = lat_lon(lab_xy)
    labs = [
        _lab_yaml(f"lab-{k + 1:02d}", float(llat[k]), float(llon[k]), float(lab_people[k]))
        for k in range(n_labs)
        if lab_people[k] > 0
    ]
    title = name or f"Generated city of {population:,} people (seed {seed})"
    yaml = _YAML.format(
        title=title,
        population=population,
        seed=seed,
        zones=n_zones,
        points=n_points,
        stations=int(stations.sum()),
        labs_count=len(labs),
        vehicles=math.ceil(n_points / POINTS_PER_VEHICLE),
        labs="\n".join(labs),
    )
    return City(yaml=yaml, zones=zones, points=points)


def _lab_yaml(lab_id: str, lat: float, lon: float, people: float) -> str:
    tubes = people * PARTICIPATION / POOL
    pcr = max(2, math.ceil(tubes / (SAMPLES_PER_PLATE / PCR_RUN_H * LAB_HOURS)))
    per_h = pcr * SAMPLES_PER_PLATE / PCR_RUN_H  # tubes an hour through PCR
    loading = max(2, math.ceil(1.4 * per_h / (SAMPLES_PER_PLATE / 0.5)))  # 30 min a plate
    extraction = loading  # 30 min a run of one plate
    # 10 min a bag, of the bags that form (BAG_TUBES, not a full 50: a vehicle takes what
    # has been sealed since its last visit)
    receiving = max(2, math.ceil(2.0 * per_h / (BAG_TUBES / (10 / 60))))
    report = max(1, math.ceil(1.7 * per_h / (SAMPLES_PER_PLATE / (10 / 60))))  # 10 min a plate
    return (
        f"  - id: {lab_id}   # ~{people:,.0f} people, ~{tubes:,.0f} tubes\n"
        f"    location: [{lat}, {lon}]\n"
        f"    receiving: {{staff: {receiving}, per_bag: 10min}}\n"
        f"    loading: {{staff: {loading}, per_plate: 30min}}\n"
        f"    extraction: {{instruments: {extraction}, plates_per_run: 1, run: 30min}}\n"
        f"    pcr: {{instruments: {pcr}, wells: 96, controls: 2, run: 75min}}\n"
        f"    report: {{staff: {report}, per_plate: 10min}}\n"
        f"    partial_plate_after: 45min"
    )


_YAML = """\
# {title}
# Written by `natsim generate --population {population} --seed {seed}`: a SYNTHETIC city whose
# resources are sized from the ratios in docs/sources.md (see sim/generate.py):
#   {zones:,} grids of ~76 people (seed district, OBS); {points:,} sampling points, one per ~2,500
#   residents (REQ/OBS); {stations:,} stations, ~550 people each (samplers ~ population/360,
#   REQ/OBS); ~{vehicles:,} vehicles at ~3 points each (OBS); {labs_count} labs with PCR sized to
#   amplify their tubes in ~9 h of lab time (75-min runs of 94 samples, OBS).
round:
  name: "{title}"
  start: "07:00"
  targets: [14h, 16h]     # seed district target (OBS)
  horizon: 36h
  seed: {seed}
demand:
  zones: {{csv: "@STEM@-zones.csv"}}
  participation: 0.95     # docs/sources.md, Collect (OBS/EST)
  arrivals:
    window: ["07:00", "12:00"]   # docs/sources.md, Collect: Luohe Apr 2022 (OBS)
    profile: front-loaded        # 30/25/20/15/10 % an hour (EST)
point_defaults:               # stations: each point's own, in the points CSV
  window: ["07:00", "12:00"]
  service: {{dist: lognormal, mean: 25s, sd: 10s}}   # docs/sources.md, Collect (EST)
  pool: 10                # docs/sources.md, Guidelines (REQ)
  tube_change: 40s        # docs/sources.md, Collect (EST)
  tubes_per_bag: 50       # docs/sources.md, Transport (EST)
  relief: {{every: 2h, for: 20min}}   # docs/sources.md, Collect (EST)
points: {{csv: "@STEM@-points.csv"}}
transport:
  pickups: {{every: 2h, first: "08:00", when_tubes: 150, final_sweep: true}}   # every 2 h + closing (OBS)
  travel: {{speed: 30km/h, detour: 1.3, noise_cv: 0.2}}
  handover: 5min          # docs/sources.md, Transport: 3-10 min (EST)
  routes: {{points_per_vehicle: 3}}   # docs/sources.md, Transport (OBS)
labs:
{labs}
"""
