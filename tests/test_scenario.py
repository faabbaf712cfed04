"""Scenario loading: units, defaults, overrides, and errors that name file, line and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import sim
from sim.scenario import ScenarioError
from sim.units import parse_clock, parse_duration, parse_speed

from .conftest import HAND_ROUND, SCENARIOS


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("25s", 25),
        ("75min", 4500),
        ("2h", 7200),
        ("1h30min", 5400),
        ("0.5h", 1800),
        (0, 0),
        ("1d", 86400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [25, "25", "25 seconds", "h", "", "-5min", True])
def test_durations_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)  # type: ignore[arg-type]


def test_clock_and_speed() -> None:
    assert parse_clock("07:00") == 7 * 3600
    assert parse_clock("02:30+1") == 26.5 * 3600
    assert parse_speed("36km/h") == pytest.approx(10.0)
    with pytest.raises(ValueError):
        parse_clock("25:00")
    with pytest.raises(ValueError):
        parse_speed(30)


def test_defaults_fill_points_and_yaml_clock_is_not_sexagesimal(
    write_scenario: Callable[..., Path],
) -> None:
    sc = sim.load_scenario(write_scenario(HAND_ROUND.replace('start: "07:00"', "start: 07:00")))
    assert sc.round.start == 7 * 3600  # unquoted 07:00 would be 420 in YAML 1.1
    assert sc.points[0].service.mean == 30
    assert sc.points[0].pool == 10
    assert sc.transport.travel.matrix == {"L": {"A": 600.0}, "A": {"L": 600.0}}


def test_scenario_is_frozen_and_variants_are_copies(write_scenario: Callable[..., Path]) -> None:
    sc = sim.load_scenario(write_scenario(HAND_ROUND))
    with pytest.raises(Exception, match="frozen"):
        sc.round.name = "x"  # type: ignore[misc]
    more = sc.with_changes({"labs.L.pcr.instruments": 3, "point_defaults.stations": 2})
    assert more.lab("L").pcr.instruments == 3 and more.points[0].stations == 2
    assert sc.lab("L").pcr.instruments == 1 and sc.points[0].stations == 1
    assert more.demand.zones is sc.demand.zones


def test_set_overrides_from_the_command_line_syntax(write_scenario: Callable[..., Path]) -> None:
    sc = sim.load_scenario(
        write_scenario(HAND_ROUND),
        [
            "labs.L.pcr.run=90min",
            "points.*.stations=2",
            "round.targets=[4h, 8h]",
            'transport.pickups.first="08:00"',
        ],
    )
    assert sc.lab("L").pcr.run.mean == 5400
    assert sc.points[0].stations == 2
    assert sc.round.targets == (4 * 3600, 8 * 3600)
    assert sc.transport.pickups.first == 8 * 3600


def test_deterministic_twin_keeps_means(write_scenario: Callable[..., Path]) -> None:
    text = HAND_ROUND.replace("service: 30s", "service: {dist: lognormal, mean: 30s, sd: 12s}")
    sc = sim.load_scenario(write_scenario(text)).deterministic()
    assert sc.points[0].service.is_fixed and sc.points[0].service.mean == pytest.approx(30)


def _error(path: Path, overrides: list[str] | None = None) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path, overrides or [])
    return info.value


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("  stations: 1", "  stations: three", "point_defaults.stations", "valid integer"),
        ("  stations: 1", "  stations: -2", "point_defaults.stations", "greater than or equal to 1"),
        ("  stations: 1", "  statoins: 1", "point_defaults.statoins", "did you mean 'stations'"),
        ("  service: 30s", "  service: 30 seconds", "point_defaults.service.value", "not a duration"),
        ("  service: 30s", "  service: 30", "point_defaults.service.value", "has no unit"),
        ("  - {id: A}", "  - {id: A, pool: 7}", "points.A.pool", "Input should be 1, 5, 10 or 20"),
        ("    - {id: Z1, population: 20, point: A}", "    - {id: Z1, population: 20, point: B}",
         "demand.zones[0].point", "unknown point 'B'"),
        ("    - {id: Z1, population: 20, point: A}", "    - {id: Z1, population: -20, point: A}",
         "demand.zones[0].population", "must be >= 0"),
        ("    - {id: R, points: [A], lab: L}", "    - {id: R, points: [A], lab: M}",
         "transport.routes.R.lab", "unknown lab 'M'"),
        ("    - {id: R, points: [A], lab: L}", "    - {id: R, points: [A]}",
         "transport.routes.R.lab", "missing: this key is required"),
        ("    pcr: {instruments: 1, run: 75min}", "    pcr: {instruments: 0, run: 75min}",
         "labs.L.pcr.instruments", "greater than or equal to 1"),
        ('  start: "07:00"', '  start: "7 o\'clock"', "round.start", "not a clock time"),
    ],
)  # fmt: skip
def test_bad_input_names_file_line_and_field(
    write_scenario: Callable[..., Path], old: str, new: str, field: str, words: str
) -> None:
    assert old in HAND_ROUND
    text = HAND_ROUND.replace(old, new)
    line = text.splitlines().index(new) + 1
    path = write_scenario(text)
    err = _error(path)
    assert (err.file, err.line, err.field) == (str(path), line, field)
    assert words in err.message
    assert "\n" not in str(err)


def test_errors_in_csv_name_the_csv_line(write_scenario: Callable[..., Path]) -> None:
    text = HAND_ROUND.replace(
        "  zones:\n    - {id: Z1, population: 20, point: A}", "  zones: {csv: zones.csv}"
    )
    path = write_scenario(text, zones__csv="id,population,point\nZ1,20,A\nZ2,x,A\n")
    err = _error(path)
    assert (
        err.file.endswith("zones.csv")
        and err.line == 3
        and err.field == "demand.zones[1].population"
    )
    path = write_scenario(text, zones__csv="id,population,point\nZ1,20,A\nZ2,5,Q\n")
    err = _error(path)
    assert err.file.endswith("zones.csv") and err.line == 3 and "unknown point 'Q'" in err.message


def test_points_csv(write_scenario: Callable[..., Path]) -> None:
    text = HAND_ROUND.replace("points:\n  - {id: A}", "points: {csv: points.csv}")
    sc = sim.load_scenario(
        write_scenario(text, points__csv="id,lat,lon,stations\nA,33.5,114.0,3\n")
    )
    assert sc.points[0].stations == 3 and sc.points[0].location == (33.5, 114.0)
    path = write_scenario(text, points__csv="id,lat,lon,stations\nA,33.5,114.0,-1\n")
    err = _error(path)
    assert err.file.endswith("points.csv") and err.line == 2 and err.field == "points.A.stations"


def test_missing_file_duplicate_key_and_bad_yaml(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    err = _error(tmp_path / "nope.yaml")
    assert "no such file" in err.message
    err = _error(write_scenario(HAND_ROUND + "round: {name: again}\n"))
    assert err.field == "round" and "duplicate" in err.message
    err = _error(write_scenario("round: [unclosed\n"))
    assert "not valid YAML" in err.message


def test_bad_override_is_reported(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(HAND_ROUND)
    err = _error(path, ["labs.nope.pcr.instruments=3"])
    assert err.file == "--set" and "no element 'nope'" in err.message
    err = _error(path, ["labs.L.pcr.instruments=-3"])
    assert err.field == "labs.L.pcr.instruments"


def _is_campaign(path: Path) -> bool:
    return any(line.startswith("campaign:") for line in path.read_text().splitlines())


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SCENARIOS.glob("*.yaml") if not _is_campaign(p)),  # campaigns: test_campaign
    ids=lambda p: p.name,
)
def test_every_scenario_file_validates_and_runs(path: Path) -> None:
    sc = sim.load_scenario(path)
    assert sc.demand.zones.total_population > 0
    summary = sim.run(sc).summary()
    assert summary["finished"] and summary["residents_swabbed"] > 0
    if path.name == "zhaoling.yaml":  # the seed district meets 14 h with the default seed
        assert summary["targets"][0]["hours"] == 14 and summary["targets"][0]["met"]
        assert 380_000 < summary["residents_swabbed"] < 382_000  # 400,875 x 0.95


def test_points_from_csv_equal_points_written_inline(write_scenario: Callable[..., Path]) -> None:
    """The CSV fast path (a validated template copied per row) builds the same points."""
    csv_text = (
        "id,lat,lon,stations,pool,tubes_per_bag,open,close\nA,33.5,114.0,3,20,40,07:30,11:00\n"
    )
    via_csv = sim.load_scenario(
        write_scenario(
            HAND_ROUND.replace("points:\n  - {id: A}", "points: {csv: points.csv}"),
            points__csv=csv_text,
        )
    )
    inline = sim.load_scenario(
        write_scenario(
            HAND_ROUND.replace(
                "points:\n  - {id: A}",
                'points:\n  - {id: A, lat: 33.5, lon: 114.0, stations: 3, pool: 20, tubes_per_bag: 40, window: ["07:30", "11:00"]}',
            ),
            name="inline.yaml",
        )
    )
    assert via_csv.points == inline.points
    assert via_csv.points[0].window is not None and via_csv.points[0].window.open == 7.5 * 3600
    assert via_csv.points[0].service == inline.point_defaults.service


def test_disruptions_are_validated(write_scenario: Callable[..., Path]) -> None:
    def load(entry: str) -> sim.Scenario:
        return sim.load_scenario(write_scenario(HAND_ROUND + f"disruptions:\n  - {entry}\n"))

    pause = load('{what: sampling, where: A, from: "07:20", for: 15min}').disruptions[0]
    assert (pause.from_, pause.for_, pause.until, pause.rule) == (26400.0, 900.0, 27300.0, "finish")
    for entry, field, message in [
        ('{what: rain, from: "07:20", for: 1h}', "disruptions[0].what", "not one of sampling"),
        (
            '{what: sampling, where: Q, from: "07:20", for: 1h}',
            "disruptions[0].where",
            "no point 'Q'",
        ),
        ('{what: pcr, where: Q, from: "07:20", for: 1h}', "disruptions[0].where", "no lab 'Q'"),
        ('{what: sampling, from: "06:20", for: 1h}', "disruptions[0].from", "before the round"),
        (
            '{what: sampling, from: "07:20", for: 1h, rule: resume}',
            "disruptions[0]",
            "never cut short",
        ),
        ('{what: lab, from: "07:20", for: 1h, units: 2}', "disruptions[0]", "not a lab"),
        ('{what: pcr, from: "07:20"}', "disruptions[0].for", "missing: this key is required"),
    ]:
        with pytest.raises(sim.ScenarioError) as info:
            load(entry)
        assert field in str(info.value) and message in str(info.value), str(info.value)


def test_a_share_never_reads_all_or_none_unless_it_is() -> None:
    """A missed target with 99.997 % reported must not read "100.0 % reported"."""
    from sim.units import format_share

    assert format_share(0.99997) == "99.9 %" and format_share(1.0) == "100.0 %"
    assert format_share(0.00001) == "0.1 %" and format_share(0.0) == "0.0 %"
    assert format_share(0.864) == "86.4 %" and format_share(0.12345, 0) == "12 %"
