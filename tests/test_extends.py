"""Scenario files that extend another (``extends:``), the example scenarios built that
way, and the disruptions they show, by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sim
from sim.scenario.schema import Lab

from .conftest import SCENARIOS

TINY = SCENARIOS / "tiny.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_file_extends_another_key_by_key(tmp_path: Path) -> None:
    base = sim.load_scenario(TINY)
    write(tmp_path / "tiny.yaml", TINY.read_text())
    child = write(
        tmp_path / "child.yaml",
        "extends: tiny.yaml\n"
        "round: {name: Child}\n"
        "labs:\n"
        "  - {id: L, location: [33.565, 114.054], pcr: {instruments: 3}}\n"
        "disruptions: [{what: sampling, from: '07:30', for: 10min}]\n",
    )
    sc = sim.load_scenario(child)
    assert sc.round.name == "Child"
    # a mapping merges key by key: the rest of round stays the base's
    assert sc.round.targets == base.round.targets and sc.round.horizon == base.round.horizon
    # a list replaces the base's: the lab is the child's, with defaults where it is silent
    assert len(sc.labs) == 1 and sc.labs[0].pcr.instruments == 3
    assert sc.labs[0].receiving.staff == Lab(id="x").receiving.staff
    assert len(sc.disruptions) == 1
    assert sc.points == base.points and len(sc.demand.zones) == len(base.demand.zones)


def test_an_error_names_the_file_that_set_the_value(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", TINY.read_text().replace("horizon: 12h", "horizon: -3h"))
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nround: {name: Child}\n")
    with pytest.raises(sim.ScenarioError) as raised:
        sim.load_scenario(child)
    text = str(raised.value)
    assert "base.yaml:8" in text and "round.horizon" in text
    write(tmp_path / "child.yaml", "extends: base.yaml\nround: {horizon: 10h, seed: -1}\n")
    with pytest.raises(sim.ScenarioError) as raised:
        sim.load_scenario(child)
    assert "child.yaml:2" in str(raised.value) and "round.seed" in str(raised.value)


def test_tables_of_the_base_stay_the_base_files(tmp_path: Path) -> None:
    """A file in another folder extending Zhaoling still reads Zhaoling's CSVs."""
    folder = tmp_path / "mine"
    ref = os.path.relpath(SCENARIOS / "zhaoling.yaml", folder)
    child = write(folder / "what-if.yaml", f"extends: {ref}\npoint_defaults: {{stations: 3}}\n")
    sc = sim.load_scenario(child)
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    assert len(sc.points) == len(zhaoling.points) and len(sc.demand.zones) == 5275
    # the points CSV gives every point its own stations: the child's default changes none
    assert [p.stations for p in sc.points] == [p.stations for p in zhaoling.points]
    assert any("point_defaults.stations is used by no point" in n for n in sc.notes)


@pytest.mark.parametrize(
    ("files", "words"),
    [
        (
            {"a.yaml": "extends: a.yaml\n"},
            "a loop of files extending each other (a.yaml -> a.yaml)",
        ),
        (
            {"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"},
            "b.yaml:1:1: extends: a loop of files extending each other (a.yaml -> b.yaml -> a.yaml)",
        ),
        ({"a.yaml": "extends: nowhere.yaml\n"}, "no such file 'nowhere.yaml'"),
        ({"a.yaml": "extends: [tiny.yaml]\n"}, "extends names a scenario file"),
    ],
)
def test_bad_extends_are_refused(tmp_path: Path, files: dict[str, str], words: str) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    with pytest.raises(sim.ScenarioError) as raised:
        sim.load_scenario(tmp_path / "a.yaml")
    assert words in str(raised.value) and ".yaml:1" in str(raised.value)


def test_a_pause_at_a_saturated_point_delays_its_last_swab_by_its_length() -> None:
    """Tiny's 40 residents at A come within a second (one station, 30 s a swab, 60 s a
    tube change: 23 min of work); sampling stops at A 07:10-07:40, at a swab's end."""
    sc = sim.load_scenario(TINY).with_changes({"demand.arrivals.window": ["07:00", "07:00:01"]})
    pause = {"disruptions": [{"what": "sampling", "where": "A", "from": "07:10", "for": "30min"}]}
    before = sim.run(sc).points.set_index("point")["last_swab_h"]
    after = sim.run(sc.with_changes(pause)).points.set_index("point")["last_swab_h"]
    assert before["A"] == pytest.approx(23 / 60, abs=1 / 3600)
    assert after["A"] - before["A"] == pytest.approx(0.5, abs=1 / 3600)
    assert after["B"] == before["B"]  # B is not paused


def test_the_example_scenarios_change_what_they_say() -> None:
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    rain = sim.load_scenario(SCENARIOS / "zhaoling-rain.yaml")
    outage = sim.load_scenario(SCENARIOS / "zhaoling-outage.yaml")
    for sc in (rain, outage):
        assert sc.points == zhaoling.points and sc.labs == zhaoling.labs
        assert len(sc.disruptions) == 1
    assert outage.disruptions[0].units == 15  # a third of henan-mobile-1's 46
    base, wet, down = (sim.run(sc).summary() for sc in (zhaoling, rain, outage))
    # rain: every point loses an hour of swabbing; the last swab is later by most of it
    assert wet["stages_h"]["last_swab"] - base["stages_h"]["last_swab"] > 0.5
    assert wet["completion_h"] >= base["completion_h"] - 1e-9
    # the outage: the lab that is the bottleneck loses 15 x 3 instrument-hours
    assert down["completion_h"] - base["completion_h"] > 0.5
    # and the summary says where the time went: the last tubes waited longest for its PCR
    wait = down["longest_wait"]
    assert (wait["stage"], wait["where"]) == ("pcr", "henan-mobile-1")
    assert wait["hours"] > base["longest_wait"]["hours"]


def test_the_summary_and_the_report_say_what_the_scenario_disrupts(tmp_path: Path) -> None:
    outage = sim.load_scenario(SCENARIOS / "zhaoling-outage.yaml")
    run = sim.run(outage)
    said = ["15 PCR instruments out at henan-mobile-1, 12:00-15:00"]
    assert run.summary()["disruptions"] == said
    rain = sim.load_scenario(SCENARIOS / "zhaoling-rain.yaml")
    assert (
        rain.disruptions[0].describe()
        == "sampling paused (all stations) at every point, 09:00-10:00"
    )
    from sim.report import render

    assert said[0] in render(run, [])


def test_an_extending_file_may_write_a_setting_another_way(tmp_path: Path) -> None:
    """windows over a base's window, samplers over a base's stations: the extending file's
    way wins (review finding: they clashed)."""
    write(tmp_path / "tiny.yaml", TINY.read_text())
    child = write(
        tmp_path / "child.yaml",
        "extends: tiny.yaml\n"
        "demand: {arrivals: {windows: [['07:00', '07:30'], ['08:00', '08:30']]}}\n"
        "point_defaults: {samplers: 4}\n",
    )
    sc = sim.load_scenario(child)
    assert len(sc.demand.arrivals.windows) == 2
    assert [p.stations for p in sc.points] == [2, 2]  # B's own 2; A's from 4 samplers
