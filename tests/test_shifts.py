"""Lab stages with daily rosters (``shifts:``): who is on duty, when, and what it does to
the round, by hand."""

from __future__ import annotations

from typing import Any

import pytest

import sim
from sim.experiment.levers import find_levers
from sim.model.calendars import FINISH, PoolEntry, shift_entries
from sim.model.capacity import lab_capacity, units_on_duty
from sim.scenario.schema import Loading, Pcr, PointParams, roster

from .conftest import SCENARIOS

H = 3600.0
DAY_NIGHT = [
    {"from": "07:00", "to": "19:00", "staff": 2},
    {"from": "19:00", "to": "07:00+1", "staff": 1, "handover": "30min"},
]


def tiny_with(stage_name: str, section: dict[str, Any]) -> sim.Scenario:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    lab = tiny.labs[0].model_dump(mode="json", by_alias=True)
    lab[stage_name] = section
    return tiny.with_changes({"labs": [lab]})


def test_a_daily_roster_by_hand() -> None:
    """Day shift 07-19 (2 on duty), night 19-07 (1), the night staying 30 min to hand
    over: from a 07:00 start over 36 h, 3 while the night before hands over, 2 to 19:00,
    1 to 07:00, 3 for the handover, 2."""
    shifts = Loading.model_validate({"shifts": DAY_NIGHT}).shifts
    pieces = roster(shifts, 7 * H, 36 * H)
    assert pieces == [
        (0.0, 0.5 * H, 3),
        (0.5 * H, 12 * H, 2),
        (12 * H, 24 * H, 1),
        (24 * H, 24.5 * H, 3),
        (24.5 * H, 36 * H, 2),
    ]
    loading = Loading.model_validate({"shifts": DAY_NIGHT})
    assert loading.staff == 3  # the most on duty at once
    # the mean on duty over a day, which the lab's capacity counts
    lab = tiny_with("loading", {"shifts": DAY_NIGHT}).labs[0]
    assert units_on_duty(lab.process.pools["loading"]) == (
        pytest.approx((2 * 12 + 1 * 12 + 1 * 0.5) / 24)
    )


def test_the_units_off_duty_are_calendar_entries() -> None:
    sc = tiny_with("loading", {"per_plate": "30min", "shifts": DAY_NIGHT})
    entries = shift_entries(sc.with_changes({"round.horizon": "36h"}))[0]["loading"]
    assert entries == [
        PoolEntry(0.5 * H, 12 * H, 1, FINISH),
        PoolEntry(12 * H, 24 * H, 2, FINISH),
        PoolEntry(24.5 * H, 36 * H, 1, FINISH),
    ]


def test_a_shift_gap_at_the_lab_delays_the_work_that_waits_for_it() -> None:
    """Tiny's one plate reaches PCR at about 2.99 h. With nobody running PCR 09:30-10:30
    (2.5-3.5 h), it starts at 3.5 h: the last report is later by 3.5 h less that time.
    A gap before it arrives changes nothing."""
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    plain = sim.run(tiny)
    start = float(plain.plates["pcr_start_h"].iloc[0])
    assert 2.5 < start < 3.5
    run_pcr = {"wells": 96, "controls": 2, "run": "75min"}
    gap = [
        {"from": "07:00", "to": "09:30", "instruments": 1},
        {"from": "10:30", "to": "07:00+1", "instruments": 1},
    ]
    late = sim.run(tiny_with("pcr", {**run_pcr, "shifts": gap}))
    delay = late.summary()["completion_h"] - plain.summary()["completion_h"]
    assert delay == pytest.approx(3.5 - start, abs=1e-9)
    assert float(late.plates["pcr_start_h"].iloc[0]) == pytest.approx(3.5)
    early = [
        {"from": "07:00", "to": "08:00", "instruments": 1},
        {"from": "09:00", "to": "07:00+1", "instruments": 1},
    ]
    same = sim.run(tiny_with("pcr", {**run_pcr, "shifts": early}))
    assert same.summary()["completion_h"] == pytest.approx(plain.summary()["completion_h"])


def test_capacity_follows_who_is_on_duty() -> None:
    sc = tiny_with("loading", {"per_plate": "30min", "shifts": DAY_NIGHT})
    rate = lab_capacity(sc.labs[0], 50).rates["loading"]
    assert rate == pytest.approx((36.5 / 24) * 94 / 0.5)


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"staff": 1, "shifts": DAY_NIGHT}, "staff is 1 but the shifts have at most 3 on duty"),
        ({"shifts": [{"from": "19:00", "to": "07:00", "staff": 1}]}, r"write 07:00\+1"),
        ({"shifts": [{"from": "07:00", "to": "19:00"}]}, "gives staff"),
        ({"shifts": [{"from": "07:00", "to": "19:00", "instruments": 2}]}, "gives its staff"),
    ],
)
def test_bad_rosters_are_refused(section: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Loading.model_validate(section)


def test_instruments_can_have_a_roster_too() -> None:
    pcr = Pcr.model_validate({"shifts": [{"from": "07:00", "to": "23:00", "instruments": 30}]})
    assert pcr.instruments == 30
    with pytest.raises(ValueError, match="gives its instruments"):
        Pcr.model_validate({"shifts": [{"from": "07:00", "to": "23:00", "staff": 3}]})


def test_the_lever_of_a_rostered_stage_adds_one_to_every_shift() -> None:
    sc = tiny_with("loading", {"per_plate": "30min", "shifts": DAY_NIGHT})
    lever = next(lv for lv in find_levers(sc) if lv.name == "labs.L.loading.staff")
    ((path, section),) = lever.more.items()
    assert path == "labs.L.loading"
    assert [s["staff"] for s in section["shifts"]] == [3, 2]
    # the night shift has one: there is no step fewer
    assert lever.fewer is None and lever.note == "in every shift: there is no step fewer"
    more = sc.with_changes(lever.more)
    assert more.labs[0].loading.staff == 5  # 3 + 2 at the handover


def test_points_can_be_sized_by_samplers(tmp_path: Any) -> None:
    """A station is one sampler of each of its teams taking turns (docs/sources.md: 2-3
    teams a station): 7 samplers in teams of 3 make 2 stations."""
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    sc = tiny.with_changes({"points.A.samplers": 7, "points.A.teams_per_station": 3})
    assert [p.stations for p in sc.points] == [2, 2]
    with pytest.raises(ValueError, match="7 samplers in teams of 2 a station make 3: give one"):
        PointParams.model_validate({"samplers": 7, "stations": 5})
    # a points CSV with a samplers column; a point's own stations win over default samplers
    text = (SCENARIOS / "tiny.yaml").read_text()
    text = text.replace(
        """points:
  - {id: A, lat: 33.570, lon: 114.040}
  - {id: B, lat: 33.580, lon: 114.050, stations: 2}""",
        "points: {csv: points.csv}",
    ).replace("point_defaults:\n  stations: 1\n", "point_defaults:\n  samplers: 8\n")
    (tmp_path / "s.yaml").write_text(text)
    (tmp_path / "points.csv").write_text(
        "id,lat,lon,stations,samplers\nA,33.57,114.04,,6\nB,33.58,114.05,3,\n"
    )
    loaded = sim.load_scenario(tmp_path / "s.yaml")
    assert [(p.stations, p.samplers) for p in loaded.points] == [(3, 6), (3, None)]


def test_stations_off_duty_at_a_saturated_point_delay_its_last_swab() -> None:
    """Tiny's 40 at A come within a second (23 min of swabbing at one station); A's one
    station is on duty 07:00-07:10 and from 07:40: the 30 min off duty delay its last
    swab by 30 min, as a pause does (tests/test_extends.py)."""
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml").with_changes(
        {"demand.arrivals.window": ["07:00", "07:00:01"]}
    )
    roster_a = [
        {"from": "07:00", "to": "07:10", "stations": 1},
        {"from": "07:40", "to": "07:00+1", "stations": 1},
    ]
    before = sim.run(tiny).points.set_index("point")["last_swab_h"]
    after = sim.run(tiny.with_changes({"points.A.shifts": roster_a})).points.set_index("point")
    assert after.loc["A", "stations"] == 1
    assert after.loc["A", "last_swab_h"] - before["A"] == pytest.approx(0.5, abs=1 / 3600)
    assert after.loc["B", "last_swab_h"] == before["B"]


def test_a_station_going_off_duty_seals_its_tube_and_a_roster_like_the_window_changes_nothing() -> (
    None
):
    """Review finding: a part-filled tube waited for the station's next shift (the next
    morning). Now a station seals what it has as it goes off duty."""
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml").with_changes({"round.horizon": "36h"})
    plain = sim.run(tiny).summary()["completion_h"]
    same = tiny.with_changes(
        {
            "points.A.shifts": [{"from": "07:00", "to": "08:00", "stations": 1}],
            "points.B.shifts": [{"from": "07:00", "to": "08:00", "stations": 2}],
        }
    )
    assert sim.run(same).summary()["completion_h"] == pytest.approx(plain)
    fewer = tiny.with_changes(
        {
            "points.B.shifts": [
                {"from": "07:00", "to": "07:30", "stations": 2},
                {"from": "07:30", "to": "07:00+1", "stations": 1},
            ]
        }
    )
    run = sim.run(fewer)
    b1 = run.tubes[(run.tubes["point"] == "B") & (run.tubes["station"] == 1)]
    # station 1 of B seals its 5 residents as it goes off duty at 07:30, + 60 s
    assert b1["residents"].tolist() == [5] and b1["sealed_h"].tolist() == [
        pytest.approx(0.5 + 1 / 60)
    ]
    assert run.summary()["completion_h"] == pytest.approx(plain)


def test_the_stations_lever_steps_a_points_roster() -> None:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    rostered = tiny.with_changes(
        {
            "points.B.shifts": [
                {"from": "07:00", "to": "07:30", "stations": 2},
                {"from": "07:30", "to": "07:00+1", "stations": 1},
            ]
        }
    )
    lever = next(lv for lv in find_levers(rostered) if lv.name == "stations")
    assert lever.fewer is not None
    ((path, shifts),) = lever.fewer.items()
    assert path == "points.B.shifts" and [s["stations"] for s in shifts] == [1, 1]
    assert rostered.with_changes(lever.fewer).points[1].stations == 1
    # a fixed count replaces a roster (one setting written two ways)
    fixed = rostered.with_changes({"points.B.stations": 3})
    assert fixed.points[1].stations == 3 and fixed.points[1].shifts == ()
