"""Random breakdowns of instruments and vehicles (``failures:``): their law, their
streams, and what they do to a round, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import sim
from sim.model.calendars import breakdowns
from sim.random import Streams
from sim.scenario.schema import Failures

from .conftest import SCENARIOS
from .test_state import _in_pieces, _whole, assert_same

EXPONENTIAL = {
    "between": {"dist": "exponential", "mean": "10h"},
    "repair": {"dist": "exponential", "mean": "2h"},
}


def test_long_run_availability_is_mtbf_over_mtbf_plus_mttr() -> None:
    """60 units over 31 days (about 60 cycles each): the share of time up, per unit, has
    mean 10 / 12 within three standard errors; repairs have the exponential's mean and
    spread (sd = mean)."""
    failures = Failures.model_validate(EXPONENTIAL)
    horizon = 31 * 24 * 3600.0
    streams = Streams(1, 0)
    shares, repairs = [], []
    for unit in range(60):
        periods = breakdowns(failures, streams[f"failures/L/pcr/{unit}"], horizon)
        down = sum(min(end, horizon) - start for start, end in periods)
        shares.append(1 - down / horizon)
        repairs += [end - start for start, end in periods]
    shares_a = np.array(shares)
    se = shares_a.std(ddof=1) / math.sqrt(shares_a.size)
    assert abs(shares_a.mean() - failures.availability) < 3 * se
    assert failures.availability == pytest.approx(10 / 12)
    r = np.array(repairs) / 3600
    assert abs(r.mean() - 2.0) < 3 * 2.0 / math.sqrt(r.size)
    assert r.std(ddof=1) == pytest.approx(2.0, rel=0.1)


def test_a_breakdown_during_a_run_delays_the_round_by_the_repair_under_resume() -> None:
    """Tiny's one plate: PCR (one instrument, 75 min) runs from about 2.9 h to 4.2 h.
    The instrument breaks at 3 h for exactly 1 h (fixed up time 3 h, repair 1 h):
    ``resume`` stops the run and carries it on at 4 h (the last report 1 h later);
    ``finish`` lets it end first and the instrument is back by then (no delay)."""
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    plain = sim.run(tiny)
    start = float(plain.plates["pcr_start_h"].iloc[0])
    assert start < 3.0 < start + 1.25
    outcome = {}
    for rule in ("resume", "finish"):
        broken = tiny.with_changes(
            {"labs.L.pcr.failures": {"between": "3h", "repair": "1h", "rule": rule}}
        )
        run = sim.run(broken)
        outcome[rule] = run.summary()["completion_h"] - plain.summary()["completion_h"]
        rows = run.table("failures")
        assert rows[["start_h", "end_h"]].to_numpy()[:3].tolist() == [[3, 4], [7, 8], [11, 12]]
    assert outcome["resume"] == pytest.approx(1.0, abs=1e-9)
    assert outcome["finish"] == pytest.approx(0.0, abs=1e-9)


def test_breakdowns_come_from_each_units_own_stream() -> None:
    """Common random numbers: more instruments at one lab move no breakdown of the units
    it had, nor any of another lab, nor any arrival or swab."""
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    failing = zhaoling.with_changes({"labs.*.pcr.failures": EXPONENTIAL})
    more = failing.with_changes({"labs.luohe-cdc.pcr.instruments": 12})
    a, b = sim.run(failing), sim.run(more)
    fa, fb = a.table("failures"), b.table("failures")
    old_units = fb[(fb["lab"] != "luohe-cdc") | (fb["unit"].astype(int) < 8)]
    pd.testing.assert_frame_equal(fa.reset_index(drop=True), old_units.reset_index(drop=True))
    assert len(fb) > len(fa)
    cols = ["first_arrival_h", "first_swab_h", "last_swab_h", "sealed_h"]
    plain = sim.run(zhaoling)
    pd.testing.assert_frame_equal(plain.tubes[cols], a.tubes[cols])
    s = a.summary()
    assert s["completion_h"] > plain.summary()["completion_h"]
    assert {f["lab"] for f in s["failures"]} == {lab.id for lab in zhaoling.labs}


def test_vehicles_break_down_too() -> None:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    broken = tiny.with_changes(
        {"transport.failures": {"between": "70min", "repair": "1h", "rule": "resume"}}
    )
    run = sim.run(broken)
    rows = run.table("failures")
    assert (rows["stage"] == "vehicle").all() and (rows["unit"] == "R1/v1").all()
    np.testing.assert_allclose(rows["start_h"][:3], [7 / 6, 7 / 6 + 1 + 7 / 6, 5.5])
    # the 08:00 trip (1.0 h to 1.32 h) is on the road at 1.17 h: it stops for the hour
    plain = sim.run(tiny)
    first = run.trips.iloc[0]["back_h"] - plain.trips.iloc[0]["back_h"]
    assert first == pytest.approx(1.0, abs=1e-9)


def test_a_round_with_breakdowns_stopped_and_carried_on_is_the_same_round() -> None:
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    failing = zhaoling.with_changes(
        {
            "labs.*.pcr.failures": {**EXPONENTIAL, "rule": "resume"},
            "transport.failures": {**EXPONENTIAL, "rule": "resume"},
        }
    )
    assert_same(_whole(failing), _in_pieces(failing, [3 * 3600.0, 9 * 3600.0]))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"between": "0s", "repair": "1h"}, "between must have a positive mean"),
        ({"between": "1h"}, "repair"),
        ({"between": "1h", "repair": "1h", "rule": "later"}, "rule"),
    ],
)
def test_bad_failures_are_refused(change: dict[str, object], words: str) -> None:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    with pytest.raises((ValueError, sim.ScenarioError)) as raised:
        tiny.with_changes({"labs.L.pcr.failures": change})
    assert words in str(raised.value)


def test_too_many_breakdowns_is_a_mistake_in_the_units() -> None:
    failures = Failures.model_validate({"between": "1s", "repair": "1s"})
    with pytest.raises(ValueError, match="in hours, not seconds"):
        breakdowns(failures, np.random.default_rng(0), 36 * 3600.0)
