"""Sampling over several windows (a morning and an evening, or two days): arrivals over
each, stations closed between them, breaks not taken while closed; by hand on tiny."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim
from sim.checks import check
from sim.model.calendars import DEFER, FINISH, point_windows, station_calendar, station_closures

from .conftest import SCENARIOS

H = 3600.0
TWO = [["07:00", "07:30"], ["08:00", "08:30"]]


@pytest.fixture(scope="module")
def tiny() -> sim.Scenario:
    return sim.load_scenario(SCENARIOS / "tiny.yaml")


def test_arrivals_come_in_each_window_and_stations_close_between(tiny: sim.Scenario) -> None:
    """Even spacing, flat profile, two 30-min windows: each window gets half of each point's
    residents (its share of the open time), spaced evenly in it: A's 40 at 07:00 + 45 s,
    + 90 s, ... and 08:00 + 45 s, ...; nobody is swabbed 07:30-08:00 (the last of the
    first window is done by 07:29:45 + 30 s)."""
    sc = tiny.with_changes({"demand.arrivals.windows": TWO})
    assert sc.demand.arrivals.span.open == 7 * H and sc.demand.arrivals.span.close == 8.5 * H
    run = sim.run(sc, detail="residents")
    residents = run.residents
    assert residents is not None
    a = residents[residents["point"] == "A"]["arrival"].to_numpy()
    first, second = a[a < 0.5 * H], a[a >= 1.0 * H]
    assert first.size == second.size == 20 and a.size == 40
    np.testing.assert_allclose(first, 45 + 90 * np.arange(20))
    np.testing.assert_allclose(second, H + 45 + 90 * np.arange(20))
    swabs = residents["swab_start"].to_numpy()
    assert not ((swabs > 0.5 * H) & (swabs < 1.0 * H)).any()
    assert run.summary()["residents_swabbed"] == 60


def test_a_point_with_windows_of_its_own_closes_between_them(tiny: sim.Scenario) -> None:
    """A's stations open 07:00-07:20 and 07:40-08:10 while residents come over the
    demand's 07:00-08:00: those who come in the gap wait for 07:40."""
    sc = tiny.with_changes({"points.A.windows": [["07:00", "07:20"], ["07:40", "08:10"]]})
    assert point_windows(sc, sc.points[0]) == [(7 * H, 7 * H + 1200), (7 * H + 2400, 8 * H + 600)]
    assert point_windows(sc, sc.points[1]) == [(7 * H, 8 * H)]  # B: the demand's window
    assert station_closures(sc)[0].start.tolist() == [1200.0]
    run = sim.run(sc, detail="residents")
    residents = run.residents
    assert residents is not None
    at_a = residents[residents["point"] == "A"]
    in_gap = at_a[(at_a["arrival"] > 1200) & (at_a["arrival"] < 2400)]
    assert len(in_gap) and (in_gap["swab_start"] >= 2400).all()
    assert not ((at_a["swab_start"] > 1200) & (at_a["swab_start"] < 2400)).any()


def test_a_break_due_while_closed_is_not_taken() -> None:
    """Relief every 30 min for 10 min over 07:00-09:00 (one station), closed 07:45-08:45:
    breaks are due at 07:30 (taken), 08:00 and 08:30 (closed: the staff rest then, not
    taken after the reopening); the calendar holds the 07:30 break and the closure."""
    start, length, rule = station_calendar(
        1, 0.0, 2 * H, 1800.0, False, 600.0,
        np.array([2700.0]), np.array([3600.0]), np.array([0], np.int64),
    )  # fmt: skip
    kept = ~np.isnan(start[0])
    assert start[0][kept].tolist() == [1800.0, 2700.0]
    assert length[0][kept].tolist() == [600.0, 3600.0]
    assert rule[0][kept].tolist() == [DEFER, FINISH]
    # without the closure, all three breaks are there
    start, _, _ = station_calendar(
        1, 0.0, 2 * H, 1800.0, False, 600.0, np.empty(0), np.empty(0), np.empty(0, np.int64)
    )
    assert start[0][~np.isnan(start[0])].tolist() == [1800.0, 3600.0, 5400.0]


def test_two_days_of_sampling_with_a_night_between(tiny: sim.Scenario) -> None:
    """06:00-23:00 on two days (a 7 h night): half the residents each day (equal
    lengths), nobody swabbed at night."""
    sc = tiny.with_changes(
        {
            "round.start": "06:00",
            "round.horizon": "48h",
            "demand.arrivals.windows": [["06:00", "23:00"], ["06:00+1", "23:00+1"]],
            "transport.pickups.first": "07:00",
        }
    )
    run = sim.run(sc, detail="residents")
    residents = run.residents
    assert residents is not None
    day = residents["arrival"].to_numpy() < 17 * H
    assert day.sum() == 30 and (~day).sum() == 30
    swabs = residents["swab_start"].to_numpy()
    assert not ((swabs > 17 * H + 60) & (swabs < 24 * H)).any()
    assert run.summary()["finished"]


def test_bad_windows_are_refused(tmp_path: Path, tiny: sim.Scenario) -> None:
    text = (SCENARIOS / "tiny.yaml").read_text()
    cases = {
        'window: ["07:00", "08:00"]\n    windows: [["07:00", "07:30"], ["07:20", "08:00"]]': "overlap",
        'window: ["07:00", "08:00"]\n    windows: [["07:00", "07:30"], ["07:40", "09:00"]]': "not both",
    }
    for line, words in cases.items():
        path = tmp_path / "s.yaml"
        path.write_text(text.replace('window: ["07:00", "08:00"]', line))
        with pytest.raises(sim.ScenarioError) as raised:
            sim.load_scenario(path)
        assert words in str(raised.value) and "s.yaml:1" in str(raised.value)
    # --set windows replaces window (one setting), and the other way round
    sc = tiny.with_changes({"demand.arrivals.windows": TWO})
    back = sc.with_changes({"demand.arrivals.window": ["07:00", "09:00"]})
    assert back.demand.arrivals.windows == () and back.demand.arrivals.times == [(7 * H, 9 * H)]


def test_sampling_slow_counts_only_the_open_time(tiny: sim.Scenario) -> None:
    """A's 40 residents need 23 min of swabbing; two 10-min windows are too little, one
    window spanning them (07:00-08:00) is not."""
    short = tiny.with_changes({"demand.arrivals.windows": [["07:00", "07:10"], ["07:50", "08:00"]]})
    assert any(f.code == "sampling-slow" for f in check(short))
    assert not any(f.code == "sampling-slow" for f in check(tiny))


def test_windows_samplers_and_shifts_survive_a_scenario_written_back_out(
    tmp_path: Path, tiny: sim.Scenario
) -> None:
    """Review finding: a point's own window equal to the default windows' span was written
    as "windows: []" and read back as the demand's windows."""
    from sim.scenario.dumping import scenario_yaml

    two = [["07:00", "07:30"], ["08:00", "08:30"]]
    cases = [
        tiny.with_changes(
            {
                "point_defaults.windows": two,
                "demand.arrivals.windows": two,
                "points.B.window": ["07:00", "08:30"],
            }
        ),
        tiny.with_changes({"point_defaults.samplers": 12, "points.B.teams_per_station": 3}),
        tiny.with_changes({"points.B.shifts": [{"from": "07:00", "to": "07:30", "stations": 2}]}),
    ]
    tiny.demand.zones.to_frame()[["id", "population", "point"]].to_csv(
        tmp_path / "z.csv", index=False
    )
    for k, sc in enumerate(cases):
        path = tmp_path / f"s{k}.yaml"
        path.write_text(scenario_yaml(sc, {"csv": "z.csv"}))
        back = sim.load_scenario(path)
        for a, b in zip(sc.points, back.points, strict=True):
            assert (a.window, a.windows, a.stations, a.samplers, a.shifts) == (
                b.window, b.windows, b.stations, b.samplers, b.shifts,
            ), k  # fmt: skip


def test_a_csv_window_replaces_the_default_windows(tmp_path: Path) -> None:
    text = (SCENARIOS / "tiny.yaml").read_text()
    text = (
        text.replace(
            """points:
  - {id: A, lat: 33.570, lon: 114.040}
  - {id: B, lat: 33.580, lon: 114.050, stations: 2}""",
            "points: {csv: points.csv}",
        )
        .replace(
            "point_defaults:\n",
            'point_defaults:\n  windows: [["07:00", "07:30"], ["08:00", "09:30"]]\n',
        )
        .replace('window: ["07:00", "08:00"]', 'windows: [["07:00", "07:30"], ["08:00", "09:30"]]')
    )
    (tmp_path / "s.yaml").write_text(text)
    (tmp_path / "points.csv").write_text(
        "id,lat,lon,open,close\nA,33.57,114.04,,\nB,33.58,114.05,07:00,09:30\n"
    )
    sc = sim.load_scenario(tmp_path / "s.yaml")
    assert point_windows(sc, sc.points[0]) == [(7 * H, 7.5 * H), (8 * H, 9.5 * H)]
    assert point_windows(sc, sc.points[1]) == [(7 * H, 9.5 * H)]  # its own window, no gap
