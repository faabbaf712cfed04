"""``natsim generate`` with a district's published figures: each option reaches the scenario,
bad figures are refused in one line naming the option, the defaults write the files they
wrote before the options existed, and a city with every option validates and runs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.generate import GenerateError, _cut_into, generate_city
from sim.model.geo import routes_for
from sim.scenario import Scenario, load_scenario
from sim.scenario.schema import PointParams, Route
from sim.units import HOUR

NATSIM = str(Path(sys.executable).parent / "natsim")

#: sha256 of the files generate_city wrote for these calls before the district options were
#: added (written from the previous sim/generate.py): no option, no change, byte for byte
BEFORE = {
    (1_000, 1, None): (
        "b77915a62f2ef3bb38157d228ca036af1a4b8a2fa72f7f11b2347aa65deb34a1",
        "4088c84c91fe7e387878753d9f18b99af8678d86598adcd478af099f91a1b6fa",
        "771eadcb2a93951733a572bc139442cec3c401e1187f7220eec1e71f03b3099c",
    ),
    (5_000, 1, None): (
        "640c62fdffc47f19a5af4d64d301aee58db9560a770663802efaba33a478291a",
        "1f063e67e9ecb0ac7ddb33ce6929b24913138207553850761c22738599554bee",
        "9a731e977044cac841be4fe107b25fd60fd799dc70f9b5edfae62c07ca433659",
    ),
    (12_345, 7, None): (
        "7a23aa5333ca3e02ac2bc93b569908dff21c152ee585bd27e0850464368a7865",
        "52204093005c9a0a82608438671088c8ea8d98bd21c81a4098d615fd6ae40770",
        "cb1417aef71f989ae96639f641d373a5b964d122073597668373f4e3b8fca925",
    ),
    (60_000, 3, "Test town"): (
        "3d103d17b87b83e188f762138e5710cfa34c528b44553ebcad2bd8c2f0048e76",
        "d6de9d0ed975af69537a14cb5bfc4a7969ed2178fcb6d26c8a6a185f7d5bcc88",
        "1688f58d2df4a14ba57d4788016d1e163e465f230075c7add573ebf6dce44737",
    ),
    (250_000, 1, None): (
        "d65f0256d8cbd739583998ecfac6490cf2342682cd5a882dd62043befa689f27",
        "f642f5a2360cb65b81e2b48899ba846e99aa9c43fbc313ce53b4a605184c165c",
        "19884e8fe903a50300ecc584e76d55fc08f4ba032ea6ee5a66b65ea5b1dfb34d",
    ),
}


def natsim(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([NATSIM, *args], capture_output=True, text=True, env=env, timeout=300)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _city(tmp_path: Path, population: int = 20_000, **figures: Any) -> tuple[Path, Scenario]:
    path = generate_city(population, seed=2, **figures).write(tmp_path / "city.yaml")
    return path, load_scenario(path)


def _vehicles(routes: tuple[Route, ...]) -> int:
    return sum(r.vehicles for r in routes)


# -- no option: the files of before -----------------------------------------------------------


@pytest.mark.parametrize(("population", "seed", "name"), list(BEFORE))
def test_without_options_the_files_are_those_written_before(
    tmp_path: Path, population: int, seed: int, name: str | None
) -> None:
    path = generate_city(population, seed=seed, name=name).write(
        tmp_path / f"city-{population}-{seed}.yaml"
    )
    stem = path.with_suffix("")
    got = (_sha(path), _sha(Path(f"{stem}-zones.csv")), _sha(Path(f"{stem}-points.csv")))
    assert got == BEFORE[(population, seed, name)]


def test_the_default_density_given_draws_the_same_map(tmp_path: Path) -> None:
    """--density 8000 (the default) changes only the header: the tables are the same."""
    plain = generate_city(20_000, seed=2)
    given = generate_city(20_000, seed=2, density=8_000)
    pd.testing.assert_frame_equal(plain.zones, given.zones)
    pd.testing.assert_frame_equal(plain.points, given.points)
    assert "(--density 8000)" in given.yaml and "--density" not in plain.yaml
    assert given.yaml.split("round:", 1)[1] == plain.yaml.split("round:", 1)[1]


# -- each option reaches the scenario ---------------------------------------------------------


def test_points(tmp_path: Path) -> None:
    path, sc = _city(tmp_path, points=13)
    assert len(sc.points) == 13
    assert sc.demand.zones.total_population == 20_000
    assert set(sc.demand.zones.point) == {p.id for p in sc.points}  # none empty
    assert "13 sampling points" in path.read_text() and "(--points 13)" in path.read_text()


def test_more_points_than_grids_make_finer_grids(tmp_path: Path) -> None:
    _, sc = _city(tmp_path, population=1_500, points=300)
    zones = sc.demand.zones
    assert len(sc.points) == 300 and len(zones) == 300
    assert zones.total_population == 1_500 and int(np.min(zones.population)) >= 1
    assert set(zones.point) == {p.id for p in sc.points}


def test_stations_are_per_point(tmp_path: Path) -> None:
    path, sc = _city(tmp_path, stations=7)
    assert {p.stations for p in sc.points} == {7}
    text = path.read_text()
    assert "stations: 7   # --stations 7: at every point" in text
    assert "stations" not in pd.read_csv(tmp_path / "city-points.csv").columns


@pytest.mark.parametrize("samplers", [1, 6, 9])
def test_samplers_make_stations_by_natsims_rule(tmp_path: Path, samplers: int) -> None:
    city = generate_city(20_000, seed=2, samplers=samplers)
    sc = load_scenario(city.write(tmp_path / "city.yaml"))
    rule = PointParams(samplers=samplers).stations  # the schema's rule, not restated here
    assert {p.samplers for p in sc.points} == {samplers}
    assert {p.stations for p in sc.points} == {rule}
    assert city.stations == rule * len(sc.points) == sum(p.stations for p in sc.points)
    assert f"--samplers {samplers}" in city.yaml


def test_labs(tmp_path: Path) -> None:
    path, sc = _city(tmp_path, labs=3)
    assert [lab.id for lab in sc.labs] == ["lab-01", "lab-02", "lab-03"]
    assert len({lab.location for lab in sc.labs}) == 3
    assert {r.lab for r in routes_for(sc)} == {"lab-01", "lab-02", "lab-03"}
    assert "3 labs (--labs 3)" in path.read_text()


def test_lab_capacity_is_published_and_natsim_derives_the_stages(tmp_path: Path) -> None:
    path, sc = _city(tmp_path, labs=2, lab_capacity=3_000)
    assert [lab.tubes_per_day for lab in sc.labs] == [3_000, 3_000]
    assert all(set(lab.derived) == {"receiving", "loading", "extraction", "pcr", "report"}
               for lab in sc.labs)  # fmt: skip
    text = path.read_text()
    assert text.count("tubes_per_day: 3000") == 2 and "(--lab-capacity 3000" in text
    assert "pcr:" not in text  # the stages are natsim's to derive


@pytest.mark.parametrize("vehicles", [1, 4, 11, 40])
def test_vehicles_are_the_fleet(tmp_path: Path, vehicles: int) -> None:
    path, sc = _city(tmp_path, vehicles=vehicles)
    routes = routes_for(sc)
    assert isinstance(sc.transport.routes, tuple)  # listed: the fleet exactly
    assert _vehicles(routes) == vehicles
    assert sorted(p for r in routes for p in r.points) == sorted(p.id for p in sc.points)
    assert f"{vehicles:,} vehicles (--vehicles {vehicles})" in path.read_text()


def test_vehicles_are_spread_over_natsims_own_routes(tmp_path: Path) -> None:
    """With one vehicle a route, the routes are those automatic routing builds with as many
    points a route."""
    _, sc = _city(tmp_path, vehicles=3)  # 8 points, one lab: routes of 3, 3 and 2
    listed = routes_for(sc)
    auto = routes_for(sc.with_changes({"transport.routes": {"points_per_vehicle": 3}}))
    assert [(r.points, r.lab, r.vehicles) for r in listed] == [
        (r.points, r.lab, r.vehicles) for r in auto
    ]


def test_window(tmp_path: Path) -> None:
    path, sc = _city(tmp_path, window="13:30-18:00")
    span = sc.demand.arrivals.span
    assert (span.open, span.close) == (13.5 * HOUR, 18 * HOUR)
    assert {(p.window.open, p.window.close) for p in sc.points if p.window} == {
        (13.5 * HOUR, 18 * HOUR)
    }
    assert sc.round.start == 13.5 * HOUR and sc.transport.pickups.first == 14.5 * HOUR
    assert "(--window 13:30-18:00)" in path.read_text()


def test_window_past_midnight(tmp_path: Path) -> None:
    _, sc = _city(tmp_path, window="20:00-01:30+1")
    span = sc.demand.arrivals.span
    assert (span.open, span.close) == (20 * HOUR, 25.5 * HOUR)


def _extent(zones: pd.DataFrame) -> float:
    """The zones' spread (people-weighted sd of the distance from their centroid), in degrees."""
    w = zones["population"].to_numpy(float)
    lat, lon = zones["lat"].to_numpy(), zones["lon"].to_numpy()
    dlat, dlon = lat - np.average(lat, weights=w), lon - np.average(lon, weights=w)
    return float(np.sqrt(np.average(dlat**2 + dlon**2, weights=w)))


def test_area_and_density_set_the_extent(tmp_path: Path) -> None:
    small = generate_city(20_000, seed=2, area=5)
    large = generate_city(20_000, seed=2, area=20)
    dense = generate_city(20_000, seed=2, density=4_000)  # 20,000 / 4,000 = 5 km2
    # the same draws on a map twice as wide (4x the area)
    assert _extent(large.zones) == pytest.approx(2 * _extent(small.zones), rel=1e-3)
    pd.testing.assert_frame_equal(small.zones, dense.zones)
    default = generate_city(20_000, seed=2)  # 8,000 a km2: 2.5 km2
    assert _extent(small.zones) == pytest.approx(np.sqrt(2) * _extent(default.zones), rel=1e-3)
    assert "5 km2 (--area 5), 4,000 people/km2" in small.yaml
    assert "4,000 people/km2 (--density 4000), 5 km2" in dense.yaml


def test_every_figure_says_where_it_came_from() -> None:
    given = generate_city(30_000, seed=2, points=10, samplers=8, vehicles=5)
    header = given.yaml.split("round:", 1)[0]
    assert "(--points 10)" in header and "--samplers 8" in header
    assert "(--vehicles 5)" in header
    # the figures not given name the ratio that sized them
    assert "(one per ~500,000 people, ours)" in header  # labs
    assert "(Luohe Apr 2022, OBS)" in header  # window
    assert "(ours: an average urban density)" in header  # extent
    assert "(seed district, OBS)" in header  # grids
    assert (
        "Written by `natsim generate --population 30000 --seed 2 --points 10 --samplers 8 "
        "--vehicles 5`" in header
    )


# -- bad figures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"stations": 3, "samplers": 6}, "--stations and --samplers: give one of them"),
        ({"density": 5_000, "area": 3}, "--density and --area: give one of them"),
        ({"points": 0}, "--points: 0 points: give 1 to 100,000"),
        ({"points": 20_001}, "--points: 20,001 points for 20,000 people: at most one point"),
        ({"points": 2.5}, "--points: '2.5' is not a whole number of points"),
        ({"stations": 0}, "--stations: 0 stations a point"),
        ({"samplers": -2}, "--samplers: -2 samplers a point"),
        ({"labs": 0}, "--labs: 0 labs"),
        ({"labs": 9}, "--labs: 9 labs for 8 sampling points: at most one lab a point"),
        ({"lab_capacity": 0}, "--lab-capacity: 0 tubes a day"),
        ({"lab_capacity": 20_000_000}, "--lab-capacity: 20,000,000 tubes a day"),
        ({"vehicles": 0}, "--vehicles: 0 vehicles"),
        ({"vehicles": 2, "labs": 3}, "--vehicles: 2 vehicles for 3 labs that receive tubes"),
        ({"window": "12:00-07:00"}, "--window: 12:00-07:00 closes before it opens"),
        ({"window": "07:00"}, "--window: '07:00' is not a window: write HH:MM-HH:MM"),
        ({"window": "7-12"}, "--window: '7' is not a clock time"),
        ({"window": "07:00-24:30"}, "--window: '24:30' is not a valid clock time"),
        ({"window": "07:00-08:00+1"}, "--window: 07:00-08:00+1 is longer than a day"),
        ({"density": 0}, "--density: 0: give a number of people a km2 above 0"),
        ({"area": -1.5}, "--area: -1.5: give a number of km2 above 0"),
        ({"area": float("inf")}, "--area: inf: give a number of km2 above 0"),
    ],
)
def test_bad_figures_are_refused_naming_the_option(figures: dict[str, Any], message: str) -> None:
    with pytest.raises(GenerateError) as caught:
        generate_city(20_000, seed=2, **figures)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("figures", "option"),
    [
        ({"window": "06:00-21:00"}, "--window: 06:00-21:00 lasts 15 h"),
        ({"vehicles": 1, "points": 40}, "--vehicles: 1 vehicle for 40 points means routes of"),
        ({"lab_capacity": 100}, "--lab-capacity: 100 tubes a day is less than the tubes"),
        ({"labs": 8, "points": 8}, None),  # every lab at a point: each is some point's nearest
        ({"area": 0.01}, "--area: 2,000,000 people a km2"),
        ({"points": 8_000}, "--points: ~2 residents a point"),
    ],
)
def test_figures_that_cannot_work_are_warned_of(
    figures: dict[str, Any], option: str | None
) -> None:
    warnings = generate_city(20_000, seed=2, **figures).warnings
    if option is None:
        assert warnings == ()
    else:
        assert any(w.startswith(option) for w in warnings), warnings


def test_points_far_larger_than_published_are_warned_of() -> None:
    warnings = generate_city(100_000, seed=2, points=3).warnings
    assert any(w.startswith("--points: ~31,667 residents a point") for w in warnings)
    assert generate_city(100_000, seed=2, points=10).warnings == ()


def test_cut_into_gives_exactly_the_runs_none_empty() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        weights = rng.gamma(0.3, 10, n) + 1e-3  # very uneven: _cut would leave runs empty
        runs = int(rng.integers(1, n + 1))
        run = _cut_into(weights, runs)
        assert np.all(np.diff(run) >= 0) and run[0] == 0 and run[-1] == runs - 1
        assert np.all(np.bincount(run, minlength=runs) >= 1)


# -- the command line --------------------------------------------------------------------------


def test_cli_refuses_bad_figures_in_one_line(tmp_path: Path) -> None:
    out = str(tmp_path / "x.yaml")
    proc = natsim("generate", "-n", "5000", "-o", out, "--stations", "3", "--samplers", "6")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: --stations and --samplers: give one of them (stations follow from samplers)"
    )
    assert not (tmp_path / "x.yaml").exists()


def test_cli_every_option_validates_and_runs(tmp_path: Path) -> None:
    """A small district with every figure given: written, checked as validate checks it,
    valid, and run end to end."""
    city = tmp_path / "district.yaml"
    proc = natsim(
        "generate", "-n", "30000", "--seed", "4", "-o", str(city),
        "--points", "12", "--samplers", "10", "--labs", "2", "--lab-capacity", "4000",
        "--vehicles", "5", "--window", "08:00-13:00", "--area", "6",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {city} (" in proc.stdout and "12 points, 60 stations" in proc.stdout
    sc = load_scenario(city)
    assert len(sc.points) == 12 and {p.stations for p in sc.points} == {5}
    assert [lab.tubes_per_day for lab in sc.labs] == [4_000, 4_000]
    assert _vehicles(routes_for(sc)) == 5
    assert sc.round.start == 8 * HOUR and sc.demand.arrivals.span.close == 13 * HOUR

    valid = natsim("validate", str(city))
    assert valid.returncode == 0, valid.stderr
    assert (
        "valid — Generated city of 30,000 people (seed 4): " in valid.stdout
        and "12 points, 60 stations, 2 labs" in valid.stdout
    )

    ran = natsim("run", str(city), "--out", str(tmp_path / "run"), "--no-figures")
    assert ran.returncode == 0, ran.stderr
    assert "last report" in ran.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["residents_swabbed"] > 0.9 * 30_000 * 0.95
    assert summary["unfinished"] == {"tubes": 0, "residents": 0}  # every tube reported
    assert summary["completion_h"] < 36


def test_cli_warns_of_figures_that_cannot_work(tmp_path: Path) -> None:
    proc = natsim(
        "generate", "-n", "20000", "-o", str(tmp_path / "slow.yaml"),
        "--stations", "1", "--window", "07:00-09:00",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "warning: sampling is short of stations at 8 of 8 points" in proc.stdout
