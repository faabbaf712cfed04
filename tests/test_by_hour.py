"""The share swabbed, delivered, tested and reported by every hour: by hand on the tiny round,
against the tube table and the targets on Zhaoling, and as bands over replications."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim

from .conftest import SCENARIOS

STEPS = ["swabbed", "delivered", "tested", "reported"]


def test_the_tiny_round_by_hand() -> None:
    # tests/test_hand_computed.py: every tube sealed by 1.0125 h, all six delivered in one
    # trip at 1.319 h, one plate reported at 4.402 h; so by each whole hour, all or nothing
    table = sim.run(SCENARIOS / "tiny.yaml").by_hour.set_index("hours")
    assert table.index.tolist() == [float(h) for h in range(1, 13)]  # to the 12 h horizon
    assert table.loc[1.0, STEPS].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert table.loc[2.0, STEPS].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert table.loc[4.0, STEPS].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert table.loc[5.0, STEPS].tolist() == [1.0, 1.0, 1.0, 1.0]


@pytest.fixture(scope="module")
def zhaoling() -> sim.Result:
    return sim.run(SCENARIOS / "zhaoling.yaml", seed=3)


def test_each_step_follows_the_one_before_and_never_falls(zhaoling: sim.Result) -> None:
    table = zhaoling.by_hour
    for step in STEPS:
        assert (np.diff(table[step].to_numpy()) >= -1e-12).all(), step
        assert table[step].between(0.0, 1.0).all()
    for before, after in itertools.pairwise(STEPS):
        assert (table[before] >= table[after] - 1e-12).all(), (before, after)
    assert table[STEPS].iloc[-1].tolist() == [1.0, 1.0, 1.0, 1.0]  # the round finished
    assert 0.0 < table.loc[table["hours"] == 8.0, "reported"].item() < 1.0


def test_the_shares_are_the_tube_table_counted_by_hour(zhaoling: sim.Result) -> None:
    tubes = zhaoling.tubes
    arrived = zhaoling.summary()["residents_arrived"]
    table = zhaoling.by_hour.set_index("hours")
    for step, column in (("delivered", "delivered_h"), ("reported", "reported_h")):
        for hour in (3.0, 7.0, 10.0):
            done = tubes.loc[tubes[column] <= hour, "residents"].sum() / arrived
            assert table.loc[hour, step] == pytest.approx(done, abs=1e-12), (step, hour)


def test_at_the_targets_the_share_is_the_targets_share(zhaoling: sim.Result) -> None:
    table = zhaoling.by_hour.set_index("hours")
    for target in zhaoling.summary()["targets"]:
        assert table.loc[target["hours"], "reported"] == pytest.approx(target["share_reported"])


def test_bands_over_replications_and_the_saved_table(tmp_path: Path) -> None:
    many = sim.replicate(SCENARIOS / "zhaoling.yaml", 4, seed=1, workers=1)
    table = many.by_hour
    assert sorted(table["replication"].unique()) == [0, 1, 2, 3]
    bands = many.summary()["by_hour"]
    hours = bands["hours"]
    assert hours == sorted(table["hours"].unique())
    for step in STEPS:
        band = bands[step]
        by_hour = table.groupby("hours")[step]
        assert band["mean"] == pytest.approx(by_hour.mean().tolist())
        assert (np.array(band["p10"]) <= np.array(band["mean"]) + 1e-12).all()
        assert (np.array(band["mean"]) <= np.array(band["p90"]) + 1e-12).all()
    # the hour with the widest spread of the share reported is not a flat line
    spread = np.array(bands["reported"]["p90"]) - np.array(bands["reported"]["p10"])
    assert spread.max() > 0.0
    many.save(tmp_path / "run")
    saved = pd.read_parquet(tmp_path / "run" / "tables" / "by_hour.parquet")
    pd.testing.assert_frame_equal(saved.reset_index(drop=True), table.reset_index(drop=True))
