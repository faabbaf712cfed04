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

**A district's published figures** replace the ratios one by one (every one
optional; ``natsim generate --help``): ``points`` (exactly that many, cut as
above into runs of equal residents; more points than grids make the grids
finer), ``stations`` at every point or ``samplers`` at every point (written as
``point_defaults.samplers``: natsim derives the stations with its own rule,
:class:`sim.scenario.schema.PointParams`), ``labs`` (exactly that many, placed
as above), ``lab_capacity`` (each lab written as published, ``tubes_per_day``,
its stages derived by natsim: :func:`sim.scenario.schema._stages_from_capacity`),
``vehicles`` (the whole fleet: the routes natsim's automatic routing builds,
with as few points a route as the fleet allows, listed with the vehicles spread
over them by residents), ``window`` (the sampling window; the round starts when
it opens, the first pickup an hour later) and ``density`` or ``area`` (the city
is drawn in a circle of that area). With none of them the files are those the
ratios alone write, byte for byte. The scenario's header says where each
figure came from.

Everything is drawn from one generator seeded by ``seed``: the same call
writes the same files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from .scenario.schema import BAG_TUBES, MAX_COUNT, MAX_TUBES_A_DAY, PointParams
from .units import DAY, HOUR, format_clock, parse_clock

if TYPE_CHECKING:
    from .scenario.schema import Scenario

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
WINDOW = ("07:00", "12:00")  # docs/sources.md, Collect: Luohe Apr 2022 (OBS)
FIRST_TARGET_H = 14  # the round's first target (seed district, OBS), as written below
#: beyond these a density is no city's (a warning, not a refusal: a planner may mean it)
DENSITY_PLAUSIBLE = (50.0, 100_000.0)
#: routes longer than this many points (published: ~3) are unlikely to get round in time
LONG_ROUTE = 12


class GenerateError(ValueError):
    """A figure given to :func:`generate_city` that cannot make a city: the message names
    the option (``--points: ...``), in one line."""


@dataclass(frozen=True)
class City:
    """A generated city: its scenario YAML text and its two tables.

    ``stations`` is the number of stations in all, as natsim will count them (with
    ``samplers`` given, the stations natsim derives); ``warnings`` are what the
    generator found in the figures given (each naming its option), one a line."""

    yaml: str
    zones: pd.DataFrame
    points: pd.DataFrame
    stations: int = 0
    warnings: tuple[str, ...] = ()

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


@dataclass(frozen=True)
class _Figures:
    """The district's figures as given (None: derived by the ratios), checked."""

    points: int | None = None
    stations: int | None = None
    samplers: int | None = None
    labs: int | None = None
    lab_capacity: int | None = None
    vehicles: int | None = None
    window: tuple[float, float] | None = None
    window_text: str | None = None
    density: float | None = None
    area: float | None = None

    @property
    def given(self) -> bool:
        return any(
            v is not None
            for v in (
                self.points, self.stations, self.samplers, self.labs, self.lab_capacity,
                self.vehicles, self.window, self.density, self.area,
            )
        )  # fmt: skip

    def flags(self) -> str:
        """The options as a planner would type them (for the header)."""
        out = []
        for flag, value in (
            ("--points", self.points), ("--stations", self.stations),
            ("--samplers", self.samplers), ("--labs", self.labs),
            ("--lab-capacity", self.lab_capacity), ("--vehicles", self.vehicles),
            ("--window", self.window_text), ("--density", self.density), ("--area", self.area),
        ):  # fmt: skip
            if value is not None:
                out.append(f"{flag} {_number(value)}")
        return " ".join(out)


def _number(value: float | int | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _km2(area: float) -> str:
    return f"{area:,.1f}".removesuffix(".0") if area >= 10 else f"{area:.2g}"


def _many(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def _count(option: str, value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GenerateError(f"{option}: '{value}' is not a whole number of {what}")
    if not 1 <= value <= MAX_COUNT:
        raise GenerateError(f"{option}: {value:,} {what}: give 1 to {MAX_COUNT:,}")
    return int(value)


def _positive(option: str, value: float | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GenerateError(f"{option}: '{value}' is not a number of {what}") from None
    if not math.isfinite(number) or number <= 0:
        raise GenerateError(f"{option}: {_number(number)}: give a number of {what} above 0")
    return number


def _window(value: str | tuple[str, str] | None) -> tuple[tuple[float, float], str] | None:
    """``"HH:MM-HH:MM"`` (or a pair of clock times) as (open, close) seconds after midnight."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = [p.strip() for p in value.split("-")]
        if len(parts) != 2 or not all(parts):
            raise GenerateError(
                f"--window: '{value}' is not a window: write HH:MM-HH:MM, e.g. 07:00-12:00"
            )
    else:
        parts = [str(p).strip() for p in value]
        if len(parts) != 2:
            raise GenerateError(f"--window: {value!r} is not a window: write HH:MM-HH:MM")
    try:
        opens, closes = (parse_clock(p) for p in parts)
    except ValueError as exc:
        raise GenerateError(f"--window: {exc}") from None
    if opens >= DAY:
        raise GenerateError(f"--window: opens at {parts[0]}, on a later day: open it on the day")
    if closes <= opens:
        raise GenerateError(
            f"--window: {parts[0]}-{parts[1]} closes before it opens "
            f"(write {parts[1]}+1 for the next day)"
        )
    if closes - opens > DAY:
        raise GenerateError(
            f"--window: {parts[0]}-{parts[1]} is longer than a day: one sampling window of "
            "at most 24 h"
        )
    return (opens, closes), f"{format_clock(opens)}-{format_clock(closes)}"


def _figures(
    points: int | None,
    stations: int | None,
    samplers: int | None,
    labs: int | None,
    lab_capacity: int | None,
    vehicles: int | None,
    window: str | tuple[str, str] | None,
    density: float | None,
    area: float | None,
    population: int,
) -> _Figures:
    """The figures given, each checked on its own and against the others."""
    if stations is not None and samplers is not None:
        raise GenerateError(
            "--stations and --samplers: give one of them (stations follow from samplers)"
        )
    if density is not None and area is not None:
        raise GenerateError(
            "--density and --area: give one of them (the other follows from the population)"
        )
    pts = _count("--points", points, "points")
    if pts is not None and pts > population:
        raise GenerateError(
            f"--points: {pts:,} points for {population:,} people: at most one point a resident"
        )
    capacity = None
    if lab_capacity is not None:
        if isinstance(lab_capacity, bool) or not isinstance(lab_capacity, int | np.integer):
            raise GenerateError(f"--lab-capacity: '{lab_capacity}' is not a number of tubes a day")
        if not 1 <= lab_capacity <= MAX_TUBES_A_DAY:
            raise GenerateError(
                f"--lab-capacity: {lab_capacity:,} tubes a day: give 1 to {MAX_TUBES_A_DAY:,} "
                "(each lab's)"
            )
        capacity = int(lab_capacity)
    parsed = _window(window)
    return _Figures(
        points=pts,
        stations=_count("--stations", stations, "stations a point"),
        samplers=_count("--samplers", samplers, "samplers a point"),
        labs=_count("--labs", labs, "labs"),
        lab_capacity=capacity,
        vehicles=_count("--vehicles", vehicles, "vehicles"),
        window=None if parsed is None else parsed[0],
        window_text=None if parsed is None else parsed[1],
        density=_positive("--density", density, "people a km2"),
        area=_positive("--area", area, "km2"),
    )


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


def _cut_into(weights: np.ndarray, runs: int) -> np.ndarray:
    """Group consecutive items into exactly ``runs`` runs of about equal weight, none empty
    (``runs`` <= items): as :func:`_cut`, with a run's start moved on where it would be
    empty."""
    n = len(weights)
    edges = np.cumsum(weights) - weights / 2
    run = np.minimum((edges / weights.sum() * runs).astype(np.int64), runs - 1)
    k = np.arange(1, runs)
    starts = np.searchsorted(run, k)  # the first item of runs 1 .. runs-1
    starts = np.maximum.accumulate(np.clip(starts - k, 0, n - runs)) + k
    return np.searchsorted(starts, np.arange(n), side="right").astype(np.int64)


def _apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """``total`` shared out in whole numbers, at least 1 each, the rest by ``weights``
    (largest remainders); ``total`` >= len(weights)."""
    rest = total - len(weights)
    share = weights / weights.sum() * rest
    out = np.floor(share).astype(np.int64)
    left = rest - int(out.sum())
    if left:
        out[np.argsort(-(share - out), kind="stable")[:left]] += 1
    return out + 1


def generate_city(
    population: int,
    seed: int = 1,
    name: str | None = None,
    *,
    points: int | None = None,
    stations: int | None = None,
    samplers: int | None = None,
    labs: int | None = None,
    lab_capacity: int | None = None,
    vehicles: int | None = None,
    window: str | tuple[str, str] | None = None,
    density: float | None = None,
    area: float | None = None,
) -> City:
    """A city of ``population`` people; see the module docstring for the ratios used.

    Every keyword is a district's published figure that replaces its ratio:
    ``points`` (sampling points), ``stations`` or ``samplers`` (at every point),
    ``labs``, ``lab_capacity`` (tubes a day, each lab's), ``vehicles`` (the fleet),
    ``window`` ("HH:MM-HH:MM") and ``density`` (people a km2) or ``area`` (km2).
    A figure that cannot make a city raises :class:`GenerateError` naming it.
    """
    if population < 1_000:
        raise ValueError("a generated city needs at least 1,000 people")
    fig = _figures(
        points, stations, samplers, labs, lab_capacity, vehicles, window, density, area, population
    )
    warnings: list[str] = []
    rng = np.random.default_rng([seed, population])
    km_lat = 111.32
    km_lon = 111.32 * math.cos(math.radians(CENTRE[0]))

    # -- zones: grids of ~76 people around a few district centres --------------------
    n_zones = max(1, round(population / PEOPLE_PER_GRID))
    if fig.points is not None and fig.points > n_zones:
        n_zones = fig.points  # a grid a point at least: finer grids
    if fig.area is not None:
        radius_km = math.sqrt(fig.area / math.pi)
    else:
        radius_km = math.sqrt(population / (fig.density or DENSITY_PER_KM2) / math.pi)
    city_area = math.pi * radius_km**2
    if not DENSITY_PLAUSIBLE[0] <= population / city_area <= DENSITY_PLAUSIBLE[1]:
        option = "--area" if fig.area is not None else "--density"
        warnings.append(
            f"{option}: {population / city_area:,.0f} people a km2 over {_km2(city_area)} km2 "
            f"is no city's density (cities: {DENSITY_PLAUSIBLE[0]:,.0f} to "
            f"{DENSITY_PLAUSIBLE[1]:,.0f}); drives between points scale with the extent"
        )
    n_centres = max(1, round(math.sqrt(population / 250_000)))
    centres = rng.normal(0, radius_km * 0.45, (n_centres, 2))
    centres[0] = 0.0
    spread = radius_km * rng.uniform(0.2, 0.45, n_centres) / math.sqrt(n_centres) ** 0.5
    share = rng.dirichlet(np.full(n_centres, 3.0))
    which = rng.choice(n_centres, n_zones, p=share)
    xy = centres[which] + rng.normal(0, 1, (n_zones, 2)) * spread[which, None]
    draw = rng.gamma(4.0, PEOPLE_PER_GRID / 4.0, n_zones)
    pop = np.maximum(1, np.round(draw * population / draw.sum())).astype(np.int64)
    pop[np.argmax(pop)] += population - pop.sum()  # exact total
    if pop.min() < 1:  # grids of a few people (finer grids for --points): share out again
        pop = _apportion(draw, population)

    # -- points: Z-order runs of ~2,500 residents -------------------------------------
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    grid = ((xy - lo) / np.maximum(hi - lo, 1e-9) * 65535).astype(np.int64)
    order = np.argsort(_morton(grid[:, 0], grid[:, 1]), kind="stable")
    point_of = np.empty(n_zones, dtype=np.int64)
    weights = pop[order].astype(float) * PARTICIPATION
    point_of[order] = (
        _cut(weights, RESIDENTS_PER_POINT) if fig.points is None else _cut_into(weights, fig.points)
    )
    n_points = int(point_of.max()) + 1
    per_point_residents = population * PARTICIPATION / n_points
    if fig.points is not None and not 200 <= per_point_residents <= 30_000:
        warnings.append(
            f"--points: ~{per_point_residents:,.0f} residents a point, an order of magnitude "
            "off the published 2,000-3,000 (docs/sources.md, Guidelines)"
        )
    point_pop = np.bincount(point_of, weights=pop, minlength=n_points)
    point_xy = np.stack(
        [
            np.bincount(point_of, weights=pop * xy[:, k], minlength=n_points) / point_pop
            for k in (0, 1)
        ],
        axis=1,
    )
    if fig.points is None:
        stations_at = np.clip(np.ceil(point_pop / PEOPLE_PER_STATION), 2, 12).astype(np.int64)
    else:  # points as large as the district's: no cap of 12 (the ratio's points never reach it)
        stations_at = np.clip(np.ceil(point_pop / PEOPLE_PER_STATION), 2, MAX_COUNT)
        stations_at = stations_at.astype(np.int64)
    per_point: int | None = None  # stations at every point, when given (or from samplers)
    if fig.stations is not None:
        per_point = fig.stations
    elif fig.samplers is not None:
        per_point = PointParams(samplers=fig.samplers).stations  # natsim's own rule
    if per_point is not None:
        stations_at = np.full(n_points, per_point, dtype=np.int64)

    # -- labs: centroids of equal-population runs of points, sized by nearest points ---
    if fig.labs is not None and fig.labs > n_points:
        raise GenerateError(
            f"--labs: {fig.labs:,} labs for {_many(n_points, 'sampling point')}: at most one "
            "lab a point (give more --points, or fewer labs)"
        )
    n_labs = fig.labs or max(1, round(population / PEOPLE_PER_LAB))
    point_order = np.argsort(
        _morton(*(((point_xy - lo) / np.maximum(hi - lo, 1e-9) * 65535).astype(np.int64).T))
    )
    lab_run = np.empty(n_points, dtype=np.int64)
    lab_run[point_order] = (
        _cut(point_pop[point_order], population / n_labs)
        if fig.labs is None
        else _cut_into(point_pop[point_order], n_labs)
    )
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
    kept = [k for k in range(n_labs) if lab_people[k] > 0 or fig.labs is not None]
    idle = [f"lab-{k + 1:02d}" for k in kept if lab_people[k] == 0]
    if idle:
        warnings.append(
            f"--labs: {', '.join(idle)} is the nearest lab of no point: automatic routing "
            "sends it no tubes"
        )

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
    columns = {"id": point_ids, "lat": plat, "lon": plon}
    table = pd.DataFrame(columns if per_point else {**columns, "stations": stations_at})
    llat, llon = lat_lon(lab_xy)
    lab_ids = [f"lab-{k + 1:02d}" for k in kept]
    if fig.lab_capacity is None:
        lab_text = [
            _lab_yaml(f"lab-{k + 1:02d}", float(llat[k]), float(llon[k]), float(lab_people[k]))
            for k in kept
        ]
    else:
        lab_text = [
            _lab_published_yaml(
                f"lab-{k + 1:02d}", float(llat[k]), float(llon[k]), float(lab_people[k]),
                fig.lab_capacity,
            )
            for k in kept
        ]  # fmt: skip
        short = [
            lab_ids[j] for j, k in enumerate(kept)
            if lab_people[k] * PARTICIPATION / POOL > fig.lab_capacity
        ]  # fmt: skip
        if short:
            worst = max(kept, key=lambda k: lab_people[k])
            warnings.append(
                f"--lab-capacity: {fig.lab_capacity:,} tubes a day is less than the tubes "
                f"{len(short)} of {len(kept)} labs get from their nearest points (worst "
                f"lab-{worst + 1:02d}: ~{lab_people[worst] * PARTICIPATION / POOL:,.0f}): at "
                "the published rate they cannot test the round within a day"
            )
    title = name or f"Generated city of {population:,} people (seed {seed})"
    vehicles_default = math.ceil(n_points / POINTS_PER_VEHICLE)
    if not fig.given:
        yaml = _YAML.format(
            header=_HEADER.format(
                title=title,
                population=population,
                seed=seed,
                zones=n_zones,
                points=n_points,
                stations=int(stations_at.sum()),
                labs_count=len(lab_text),
                vehicles=vehicles_default,
            ),
            title=title,
            seed=seed,
            start='"07:00"',
            arrivals_window=_ARRIVALS_WINDOW,
            point_defaults=_POINT_DEFAULTS,
            point_window='["07:00", "12:00"]',
            first='"08:00"',
            routes=_AUTO_ROUTES,
            labs="\n".join(lab_text),
        )
        return City(yaml=yaml, zones=zones, points=table, stations=int(stations_at.sum()))

    # -- a district's figures: the same scenario, each figure saying where it came from --
    opens, closes = fig.window or (parse_clock(WINDOW[0]), parse_clock(WINDOW[1]))
    open_text, close_text = format_clock(opens), format_clock(closes)
    if closes - opens >= FIRST_TARGET_H * HOUR:
        warnings.append(
            f"--window: {fig.window_text} lasts {(closes - opens) / HOUR:g} h: residents still "
            f"come after the first target ({FIRST_TARGET_H} h after opening), which no round "
            "can then meet"
        )
    if fig.vehicles is None:
        routes = _AUTO_ROUTES
        fleet = f"~{vehicles_default:,} vehicles at ~3 points each (OBS; natsim's automatic routes)"
    else:
        routes, fleet = _listed_routes(
            fig.vehicles, point_ids, plat, plon, point_pop, lab_ids, llat[kept], llon[kept],
            warnings,
        )  # fmt: skip
    header = _district_header(
        fig, title, population, seed, n_zones, n_points, stations_at, per_point, city_area,
        len(lab_text), fleet, open_text, close_text,
    )  # fmt: skip
    if fig.window is None:
        arrivals_window, start = _ARRIVALS_WINDOW, '"07:00"'
    else:
        arrivals_window = f'["{open_text}", "{close_text}"]   # --window {fig.window_text}'
        start = f'"{open_text}"         # when the sampling window opens (--window)'
    if fig.stations is not None:
        point_defaults = (
            f"\n  stations: {fig.stations}   # --stations {fig.stations}: at every point"
        )
    elif fig.samplers is not None:
        point_defaults = (
            f"\n  samplers: {fig.samplers}   # --samplers {fig.samplers}: at every point; natsim "
            f"derives the stations ({per_point} a point)\n"
            f"  teams_per_station: {PointParams().teams_per_station}   # samplers take turns in "
            "teams of a station (docs/sources.md: 2-3 teams, OBS)"
        )
    else:
        point_defaults = _POINT_DEFAULTS
    yaml = _YAML.format(
        header=header,
        title=title,
        seed=seed,
        start=start,
        arrivals_window=arrivals_window,
        point_defaults=point_defaults,
        point_window=f'["{open_text}", "{close_text}"]',
        first=f'"{format_clock(opens + HOUR)}"',
        routes=routes,
        labs="\n".join(lab_text),
    )
    return City(
        yaml=yaml,
        zones=zones,
        points=table,
        stations=int(stations_at.sum()),
        warnings=tuple(warnings),
    )


def _district_header(
    fig: _Figures,
    title: str,
    population: int,
    seed: int,
    n_zones: int,
    n_points: int,
    stations_at: np.ndarray,
    per_point: int | None,
    city_area: float,
    n_labs: int,
    fleet: str,
    open_text: str,
    close_text: str,
) -> str:
    """The header of a city with a district's figures: each figure and where it came from."""
    density = population / city_area
    if fig.area is not None:
        extent = f"{_km2(city_area)} km2 (--area {_number(fig.area)}), {density:,.0f} people/km2"
    elif fig.density is not None:
        extent = (
            f"{density:,.0f} people/km2 (--density {_number(fig.density)}), {_km2(city_area)} km2"
        )
    else:
        extent = (
            f"{density:,.0f} people/km2 (ours: an average urban density), {_km2(city_area)} km2"
        )
    grids = f"{n_zones:,} grids of ~{population / n_zones:,.0f} people" + (
        " (seed district, OBS)" if n_zones == max(1, round(population / PEOPLE_PER_GRID))
        else " (finer than the seed district's ~76: a grid a point at least)"
    )  # fmt: skip
    residents = population * PARTICIPATION / n_points
    points = f"{n_points:,} sampling points, ~{residents:,.0f} residents each " + (
        f"(--points {fig.points})" if fig.points is not None else "(one per ~2,500, REQ/OBS)"
    )
    total = int(stations_at.sum())
    if fig.stations is not None:
        stations = f"{total:,} stations, {fig.stations} at every point (--stations {fig.stations})"
    elif fig.samplers is not None:
        stations = (
            f"{total:,} stations, {per_point} a point, which natsim derives from --samplers "
            f"{fig.samplers} a point in teams of {PointParams().teams_per_station}"
        )
    else:
        cap = "2-12" if fig.points is None else "at least 2"
        stations = (
            f"{total:,} stations, ~550 people each, {cap} a point (samplers ~ population/360, "
            "REQ/OBS)"
        )
    labs = f"{n_labs} labs " + (
        f"(--labs {fig.labs})" if fig.labs is not None else "(one per ~500,000 people, ours)"
    )
    if fig.lab_capacity is not None:
        labs += (
            f", each {fig.lab_capacity:,} tubes a day as published (--lab-capacity "
            f"{fig.lab_capacity}; natsim derives its stages)"
        )
    else:
        labs += ", PCR sized to amplify their tubes in ~9 h of lab time (75-min runs, OBS)"
    window = f"sampling {open_text}-{close_text} " + (
        f"(--window {fig.window_text}); the round starts at its opening, pickups an hour later"
        if fig.window is not None
        else "(Luohe Apr 2022, OBS)"
    )
    lines = [
        f"# {title}",
        f"# Written by `natsim generate --population {population} --seed {seed} {fig.flags()}`:",
        "# a SYNTHETIC city; each figure says where it came from (an option given, or the",
        "# ratio of docs/sources.md that sized it; see sim/generate.py):",
        *(f"#   {text}" for text in (extent, grids, points, stations, fleet, labs, window)),
    ]
    return "\n".join(lines)


def _listed_routes(
    vehicles: int,
    point_ids: np.ndarray,
    plat: np.ndarray,
    plon: np.ndarray,
    point_pop: np.ndarray,
    lab_ids: list[str],
    llat: np.ndarray,
    llon: np.ndarray,
    warnings: list[str],
) -> tuple[str, str]:
    """The routes of a fleet of ``vehicles``: natsim's automatic routes (nearest lab, a sweep
    around it, :func:`sim.model.geo.routes_for`) with as few points a route as the fleet
    allows (one a route at best), the vehicles left over spread over the routes by their
    residents (largest remainders). Returns the YAML of ``routes:`` and the header's line."""
    from .model.geo import great_circle_matrix, routes_for
    from .scenario.schema import AutoRoutes

    point_xy = np.stack([plat, plon], axis=1)
    lab_xy = np.stack([llat, llon], axis=1)
    counts = np.bincount(
        np.argmin(great_circle_matrix(point_xy, lab_xy), axis=1), minlength=len(lab_ids)
    )
    counts = counts[counts > 0]  # as routes_for assigns them: each point to its nearest lab
    if vehicles < len(counts):
        raise GenerateError(
            f"--vehicles: {_many(vehicles, 'vehicle')} for {_many(len(counts), 'lab')} that "
            "receive tubes: at least one vehicle for each lab's points"
        )
    size = next(
        k for k in range(1, int(counts.max()) + 1) if int(np.ceil(counts / k).sum()) <= vehicles
    )
    # routes_for reads only the points' and labs' ids and places and the routing settings
    city = SimpleNamespace(
        transport=SimpleNamespace(routes=AutoRoutes(points_per_vehicle=size)),
        points=[
            SimpleNamespace(id=str(p), location=(float(a), float(b)))
            for p, a, b in zip(point_ids, plat, plon, strict=True)
        ],
        labs=[
            SimpleNamespace(id=lab, location=(float(a), float(b)))
            for lab, a, b in zip(lab_ids, llat, llon, strict=True)
        ],
    )
    routes = routes_for(cast("Scenario", city))
    index = {str(p): i for i, p in enumerate(point_ids)}
    people = np.array([sum(point_pop[index[p]] for p in r.points) for r in routes])
    fleet_of = _apportion(people, vehicles)  # one a route, the rest by residents
    lines = [
        f"    - {{id: {r.id}, lab: {r.lab}, vehicles: {int(fleet_of[i])}, "
        f"points: [{', '.join(r.points)}]}}"
        for i, r in enumerate(routes)
    ]
    if size > LONG_ROUTE:
        warnings.append(
            f"--vehicles: {_many(vehicles, 'vehicle')} for {len(point_ids):,} points means "
            f"routes of up to {size} points (published: ~3 a vehicle): a vehicle may not get round its "
            "points between pickups"
        )
    text = (
        f"   # --vehicles {vehicles}: natsim's automatic routes (nearest lab, a sweep around "
        f"it) of up to {size} points, the fleet spread over them by residents\n" + "\n".join(lines)
    )
    fleet = (
        f"{vehicles:,} vehicles (--vehicles {vehicles}) on {len(routes):,} routes of up to "
        f"{size} points"
    )
    return text, fleet


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


def _lab_published_yaml(lab_id: str, lat: float, lon: float, people: float, per_day: int) -> str:
    """A lab as published: its tubes a day, from which natsim derives every stage."""
    tubes = people * PARTICIPATION / POOL
    return (
        f"  - id: {lab_id}   # ~{people:,.0f} people, ~{tubes:,.0f} tubes\n"
        f"    location: [{lat}, {lon}]\n"
        f"    tubes_per_day: {per_day}   # --lab-capacity: as published; natsim derives the stages\n"
        f"    partial_plate_after: 45min"
    )


_HEADER = """\
# {title}
# Written by `natsim generate --population {population} --seed {seed}`: a SYNTHETIC city whose
# resources are sized from the ratios in docs/sources.md (see sim/generate.py):
#   {zones:,} grids of ~76 people (seed district, OBS); {points:,} sampling points, one per ~2,500
#   residents (REQ/OBS); {stations:,} stations, ~550 people each (samplers ~ population/360,
#   REQ/OBS); ~{vehicles:,} vehicles at ~3 points each (OBS); {labs_count} labs with PCR sized to
#   amplify their tubes in ~9 h of lab time (75-min runs of 94 samples, OBS)."""
_ARRIVALS_WINDOW = '["07:00", "12:00"]   # docs/sources.md, Collect: Luohe Apr 2022 (OBS)'
_POINT_DEFAULTS = "               # stations: each point's own, in the points CSV"
_AUTO_ROUTES = " {points_per_vehicle: 3}   # docs/sources.md, Transport (OBS)"

_YAML = """\
{header}
round:
  name: "{title}"
  start: {start}
  targets: [14h, 16h]     # seed district target (OBS)
  horizon: 36h
  seed: {seed}
demand:
  zones: {{csv: "@STEM@-zones.csv"}}
  participation: 0.95     # docs/sources.md, Collect (OBS/EST)
  arrivals:
    window: {arrivals_window}
    profile: front-loaded        # 30/25/20/15/10 % an hour (EST)
point_defaults:{point_defaults}
  window: {point_window}
  service: {{dist: lognormal, mean: 25s, sd: 10s}}   # docs/sources.md, Collect (EST)
  pool: 10                # docs/sources.md, Guidelines (REQ)
  tube_change: 40s        # docs/sources.md, Collect (EST)
  tubes_per_bag: 50       # docs/sources.md, Transport (EST)
  relief: {{every: 2h, for: 20min}}   # docs/sources.md, Collect (EST)
points: {{csv: "@STEM@-points.csv"}}
transport:
  pickups: {{every: 2h, first: {first}, when_tubes: 150, final_sweep: true}}   # every 2 h + closing (OBS)
  travel: {{speed: 30km/h, detour: 1.3, noise_cv: 0.2}}
  handover: 5min          # docs/sources.md, Transport: 3-10 min (EST)
  routes:{routes}
labs:
{labs}
"""
