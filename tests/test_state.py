"""Stop a round at a clock time, save its state, carry on from it: the same round as never stopped.

Every table (tubes, plates, trips, stops, bags, points, the timeline, vehicles,
labs) must be equal, with seeded draws and with every duration fixed (where
simultaneous events are everywhere), with outages of stations, labs and
vehicles under both rules, load-aware dispatch, and in three pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.model.world import Round
from sim.results.result import tabulate

from .conftest import HAND_ROUND, SCENARIOS, random_tiny

H = 3600.0
TABLES = ("tubes", "plates", "trips", "stops", "bags", "points", "timeline", "vehicles", "labs")


def _tables(round_: Round) -> dict[str, pd.DataFrame]:
    return tabulate(round_.records()).tables


def _whole(scenario: sim.Scenario) -> dict[str, pd.DataFrame]:
    round_ = Round(scenario)
    round_.run()
    return _tables(round_)


def _in_pieces(scenario: sim.Scenario, stops: list[float]) -> dict[str, pd.DataFrame]:
    state = None
    for stop in [*stops, None]:
        round_ = Round(scenario, state=state)
        round_.run(stop)
        if stop is not None:
            assert round_.now == stop
            state = round_.save()
    return _tables(round_)


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


@pytest.fixture(scope="module")
def zhaoling() -> sim.Scenario:
    return sim.load_scenario(SCENARIOS / "zhaoling.yaml")


@pytest.fixture(scope="module")
def disrupted(zhaoling: sim.Scenario) -> sim.Scenario:
    """Outages of every kind, both rules, and vehicles choosing their lab by the labs' work."""
    return zhaoling.with_changes(
        {
            "transport.dispatch": {"rule": "earliest_finish", "overflow_after": "2h"},
            "disruptions": [
                {"what": "sampling", "from": "09:00", "for": "15min", "units": 1},
                {"what": "vehicle", "from": "09:50", "for": "20min", "rule": "resume"},
                {"what": "vehicle", "where": "luohe-cdc/r001", "from": "12:00", "for": "1h"},
                {"what": "lab", "where": "luohe-cdc", "from": "11:00", "for": "30min", "rule": "resume"},
                {"what": "pcr", "where": "zhaoling-hospital", "units": 6, "from": "12:00", "for": "3h"},
            ],
        }
    )  # fmt: skip


@pytest.mark.parametrize("fixed", [False, True], ids=["seeded", "deterministic"])
@pytest.mark.parametrize("stop_h", [3.0, 5.5, 8.0])
def test_stop_at_a_moment_and_carry_on(zhaoling: sim.Scenario, fixed: bool, stop_h: float) -> None:
    scenario = zhaoling.deterministic() if fixed else zhaoling
    assert_same(_whole(scenario), _in_pieces(scenario, [stop_h * H]))


@pytest.mark.parametrize("fixed", [False, True], ids=["seeded", "deterministic"])
def test_stop_during_outages_and_dispatch(disrupted: sim.Scenario, fixed: bool) -> None:
    # 10:00 falls inside the vehicles' pause, 11:12 inside the lab's, 12:12 in the PCR outage
    scenario = disrupted.deterministic() if fixed else disrupted
    whole = _whole(scenario)
    assert whole["trips"]["choice"].str.startswith("overflow").any()
    for stop_h in (3.0, 4.2, 5.2):
        assert_same(whole, _in_pieces(scenario, [stop_h * H]))


def test_three_pieces(disrupted: sim.Scenario) -> None:
    assert_same(_whole(disrupted), _in_pieces(disrupted, [2.5 * H, 4.2 * H, 6.0 * H]))


def test_small_rounds(write_scenario: Callable[..., Path]) -> None:
    hand = sim.load_scenario(write_scenario(HAND_ROUND))
    for scenario in (hand, sim.load_scenario(SCENARIOS / "tiny.yaml"), random_tiny()):
        for stop in (600.0, 1800.0, 3000.0, 5200.0):
            assert_same(_whole(scenario), _in_pieces(scenario, [stop]))


def test_the_state_says_where_everything_is(zhaoling: sim.Scenario) -> None:
    round_ = Round(zhaoling)
    round_.run(3 * H)  # 10:00: people in line, tubes at points and on the road, labs at work
    state = round_.save()
    assert state.time == 3 * H
    assert state.people_in_line.sum() > 1000
    at_points = state.tubes_at_points
    assert (at_points >= 0).all() and at_points.sum() > 1000
    on_the_road = sum(len(t.bags) for r in state.routes for t in r.trips)
    assert on_the_road > 0
    in_labs = sum(s.running != {} for lab in state.labs for s in lab.steps.values())
    assert in_labs > 0
    # a tube is at a point, on the road, in a lab or reported: the state adds up
    tubes = round_.ledger
    taken = int(state.taken.sum())
    assert taken == int((tubes.tube_trip >= 0).sum())
    carried = sum(hi - lo for r in state.routes for t in r.trips for lo, hi, _ in t.bags)
    delivered = int(np.isfinite(tubes.tube_delivered).sum())
    assert taken == carried + delivered


def test_a_state_carries_on_only_its_own_round(zhaoling: sim.Scenario) -> None:
    round_ = Round(zhaoling)
    round_.run(3 * H)
    state = round_.save()
    with pytest.raises(ValueError, match="seed"):
        Round(zhaoling, seed=2, state=state)
    with pytest.raises(ValueError, match="residents"):
        Round(zhaoling, detail="residents", state=state)
    other = zhaoling.with_changes({"round.name": "Another round"})
    with pytest.raises(ValueError, match="Zhaoling"):
        Round(other, state=state)
