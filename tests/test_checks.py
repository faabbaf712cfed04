"""Each pitfall check fires on a scenario that has the pitfall, and stays quiet on one that does not."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import sim
from sim.checks import check
from sim.cli import app

from .conftest import SCENARIOS
from .test_dispatch import MOBILE, with_lab


@pytest.fixture(scope="module")
def zhaoling() -> sim.Scenario:
    return sim.load_scenario(SCENARIOS / "zhaoling.yaml")


def codes(scenario: sim.Scenario) -> list[str]:
    return [finding.code for finding in check(scenario)]


def test_the_shipped_scenarios_are_clean(zhaoling: sim.Scenario) -> None:
    assert check(zhaoling) == []
    assert check(sim.load_scenario(SCENARIOS / "tiny.yaml")) == []


def test_labs_at_one_place(zhaoling: sim.Scenario) -> None:
    same = zhaoling.with_changes({"labs.luohe-cdc.location": [33.57, 114.10]})
    found = check(same)
    assert "labs-same-place" in [f.code for f in found]
    message = next(f.message for f in found if f.code == "labs-same-place")
    assert "luohe-cdc, henan-mobile-1" in message and "assign: capacity" in message
    # the lab behind gets nothing: said too
    assert any("no tubes are routed to henan-mobile-1" in f.message for f in found)
    # sharing by capacity or dispatching by work: nothing to warn about
    for fix in ({"transport.routes.assign": "capacity"}, {"transport.dispatch": "earliest_finish"}):
        assert "labs-same-place" not in codes(same.with_changes(fix))


def test_a_lab_opening_after_the_horizon_or_the_last_target(zhaoling: sim.Scenario) -> None:
    after_horizon = zhaoling.with_changes({"labs.luohe-cdc.opens": "20:00+1"})
    message = next(f.message for f in check(after_horizon) if f.code == "lab-opens-late")
    assert "20:00+1, at or after the horizon (19:00+1)" in message
    after_target = zhaoling.with_changes({"labs.luohe-cdc.opens": "23:30"})
    message = next(f.message for f in check(after_target) if f.code == "lab-opens-late")
    assert "after the last target (23:00)" in message
    assert "lab-opens-late" not in codes(zhaoling.with_changes({"labs.luohe-cdc.opens": "22:00"}))


def test_uneven_lab_load_gives_the_figures(zhaoling: sim.Scenario) -> None:
    added = with_lab(zhaoling, MOBILE)
    message = next(f.message for f in check(added) if f.code == "lab-load-uneven")
    assert message.startswith("lab load is uneven: mobile-2 ")
    assert "tubes/h" in message and "h of work" in message and "times as much" in message
    for fix in ({"transport.routes.assign": "capacity"}, {"transport.dispatch": "earliest_finish"}):
        assert "lab-load-uneven" not in codes(added.with_changes(fix))


def test_warnings_are_printed_and_kept(zhaoling: sim.Scenario, tmp_path: Any) -> None:
    same = tmp_path / "same.yaml"
    text = (
        (SCENARIOS / "zhaoling.yaml")
        .read_text()
        .replace("location: [33.58, 114.02]", "location: [33.57, 114.10]")
    )
    same.write_text(text.replace("csv: data/", f"csv: {SCENARIOS}/data/"))
    out = CliRunner().invoke(app, ["validate", str(same)])
    assert out.exit_code == 0
    assert "warning: labs luohe-cdc, henan-mobile-1 are at the same place" in " ".join(
        out.output.split()
    )
    result = sim.run(sim.load_scenario(same))
    assert any("same place" in w for w in result.summary()["warnings"])
    assert sim.run(zhaoling).summary()["warnings"] == []


@pytest.fixture(scope="module")
def tiny() -> sim.Scenario:
    return sim.load_scenario(SCENARIOS / "tiny.yaml")


def message_of(scenario: sim.Scenario, code: str) -> str:
    return next(f.message for f in check(scenario) if f.code == code)


def test_demand_over_capacity_gives_the_tubes_a_day(zhaoling: sim.Scenario) -> None:
    short = zhaoling.with_changes(
        {"labs.henan-mobile-1.pcr.instruments": 10, "labs.luohe-cdc.pcr.instruments": 2}
    )
    message = message_of(short, "demand-over-capacity")
    assert message.startswith("about 38,180 tubes are expected, but the labs can test at most")
    assert "before the 14 h target (21:00)" in message
    assert "tubes/h together" in message and "tubes a day" in message
    assert "demand-over-capacity" not in codes(zhaoling)


def test_sampling_short_of_stations_names_the_worst_point(zhaoling: sim.Scenario) -> None:
    short = zhaoling.with_changes({"points.*.stations": 2})
    message = message_of(short, "sampling-slow")
    assert message.startswith("sampling is short of stations at ")
    assert "h of swabbing for a 5 h window" in message and "at 2 stations" in message
    assert "cannot finish swabbing before the first target (21:00)" in message
    assert "sampling-slow" not in codes(zhaoling)


def test_residents_before_their_point_opens(tiny: sim.Scenario) -> None:
    late_open = tiny.with_changes({"points.A.window": ["07:30", "09:00"]})
    message = message_of(late_open, "arrivals-before-opening")
    assert "zone Z1 from 07:00, point A opens 07:30" in message
    assert "arrivals-before-opening" not in codes(tiny)


def test_arrivals_after_a_point_closes_are_an_error(tiny: sim.Scenario, tmp_path: Any) -> None:
    with pytest.raises(sim.ScenarioError) as raised:
        tiny.with_changes({"points.A.window": ["07:00", "07:30"]})
    assert "points" in str(raised.value) and "clos" in str(raised.value)
    # in a file: the error names the file and the field
    text = (SCENARIOS / "tiny.yaml").read_text()
    bad = tmp_path / "closed.yaml"
    bad.write_text(text.replace("- {id: A,", '- {id: A, window: ["07:00", "07:30"],'))
    with pytest.raises(sim.ScenarioError) as raised:
        sim.load_scenario(bad)
    assert str(bad) in str(raised.value) and "window" in str(raised.value)
    tiny.with_changes({"points.A.window": ["07:00", "08:00"]})  # closing with the arrivals


def test_a_default_no_point_uses_is_said(tmp_path: Any) -> None:
    text = (
        (SCENARIOS / "zhaoling.yaml").read_text().replace("csv: data/", f"csv: {SCENARIOS}/data/")
    )
    unused = tmp_path / "unused.yaml"
    unused.write_text(text.replace("point_defaults:\n", "point_defaults:\n  stations: 3\n", 1))
    message = message_of(sim.load_scenario(unused), "settings")
    assert message.startswith("point_defaults.stations is used by no point")
    assert "zhaoling-points.csv" in message and "--set points.*.stations=" in message


def test_a_csv_column_overriding_a_default_at_some_points_is_said(tmp_path: Any) -> None:
    (tmp_path / "points.csv").write_text(  # A's stations cell is empty
        "id,lat,lon,stations\nA,33.570,114.040,\nB,33.580,114.050,2\n"
    )
    text = (SCENARIOS / "tiny.yaml").read_text()
    text = text.replace(
        "points:\n  - {id: A, lat: 33.570, lon: 114.040}\n"
        "  - {id: B, lat: 33.580, lon: 114.050, stations: 2}\n",
        "points: {csv: points.csv}\n",
    )
    assert "points: {csv: points.csv}" in text
    path = tmp_path / "partial.yaml"
    path.write_text(text)
    loaded = sim.load_scenario(path)
    assert [p.stations for p in loaded.points] == [1, 2]
    message = message_of(loaded, "settings")
    assert message == (
        "point_defaults.stations is overridden at 1 of 2 points by their own stations (points.csv)"
    )
    # the points given in the file itself: the author sees both, nothing to say
    assert "settings" not in codes(sim.load_scenario(SCENARIOS / "tiny.yaml"))


def test_a_changed_default_says_how_many_points_kept_their_own(
    tiny: sim.Scenario, zhaoling: sim.Scenario
) -> None:
    changed = tiny.with_changes({"point_defaults.stations": 3})
    assert [p.stations for p in changed.points] == [3, 2]  # B keeps its own 2
    assert message_of(changed, "settings") == (
        "point_defaults.stations=3 changed the default: 1 of 2 points have their own stations "
        "and keep it (to change every point: --set points.*.stations=...)"
    )
    every = tiny.with_changes({"points.*.stations": 3})
    assert [p.stations for p in every.points] == [3, 3] and "settings" not in codes(every)
    kept = zhaoling.with_changes({"point_defaults.stations": 2})
    assert [p.stations for p in kept.points] == [p.stations for p in zhaoling.points]
    n = len(zhaoling.points)
    assert f"{n:,} of {n:,} points have their own stations" in message_of(kept, "settings")


def test_a_horizon_that_cuts_the_round_off(tiny: sim.Scenario) -> None:
    cut = sim.run(tiny.with_changes({"round.targets": ["3h"], "round.horizon": "3h"}))
    warning = next(w for w in cut.warnings if "horizon" in w)
    assert "ended the round before every result was out" in warning
    assert "residents in" in warning and "completion time is unknown" in warning
    assert cut.summary()["warnings"] == cut.warnings
    assert not [w for w in sim.run(tiny).warnings if "horizon" in w]
