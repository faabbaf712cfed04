"""Same seed, same numbers; streams keyed by name give common random numbers across variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.random import Streams, stream

from .conftest import SCENARIOS


@pytest.fixture(scope="module")
def zhaoling() -> sim.Scenario:
    return sim.load_scenario(SCENARIOS / "zhaoling.yaml")


def test_streams_depend_on_seed_replication_and_name_only() -> None:
    a = stream(1, 0, "service/P-1").random(5)
    assert np.array_equal(a, stream(1, 0, "service/P-1").random(5))
    assert np.array_equal(a, Streams(1, 0)["service/P-1"].random(5))
    for other in (
        stream(2, 0, "service/P-1"),
        stream(1, 1, "service/P-1"),
        stream(1, 0, "service/P-2"),
    ):
        assert not np.array_equal(a, other.random(5))
    # asking for other streams first changes nothing
    s = Streams(1, 0)
    s["arrivals/P-1"].random(100)
    assert np.array_equal(a, s["service/P-1"].random(5))


def test_same_seed_same_results(zhaoling: sim.Scenario) -> None:
    a = sim.run(zhaoling, seed=7)
    b = sim.run(zhaoling, seed=7)
    pd.testing.assert_frame_equal(a.tubes, b.tubes)
    pd.testing.assert_frame_equal(a.plates, b.plates)
    assert a.summary() == b.summary()
    c = sim.run(zhaoling, seed=8)
    assert not a.tubes["reported_h"].equals(c.tubes["reported_h"])


def test_replications_are_independent_of_how_many_are_run(zhaoling: sim.Scenario) -> None:
    small = zhaoling.with_changes({"round.targets": ["14h"]})
    three = sim.run(small, seed=3, replications=3)
    two = sim.run(small, seed=3, replications=2)
    pd.testing.assert_frame_equal(
        three.tubes[three.tubes["replication"] == 1].reset_index(drop=True),
        two.tubes[two.tubes["replication"] == 1].reset_index(drop=True),
    )
    assert three.summary()["replications"] == 3


def test_adding_a_lab_or_vehicles_leaves_arrivals_and_swabs_identical(
    zhaoling: sim.Scenario,
) -> None:
    base = sim.run(zhaoling, detail="residents")
    more_vehicles = zhaoling.with_changes({"transport.routes.vehicles_per_route": 2})
    extra_lab = zhaoling.model_copy(
        update={
            "labs": (
                *zhaoling.labs,
                zhaoling.labs[0].model_copy(update={"id": "extra", "location": (33.60, 114.05)}),
            )
        }
    )
    extra_lab = sim.Scenario.model_validate(extra_lab)
    for variant in (more_vehicles, extra_lab):
        other = sim.run(variant, detail="residents")
        assert base.residents is not None and other.residents is not None
        for column in ("arrival", "swab_start", "swab_end", "station", "zone"):
            assert base.residents[column].equals(other.residents[column]), column
        np.testing.assert_array_equal(base.tubes["sealed_h"], other.tubes["sealed_h"])
        # ... while downstream did change
        assert not base.tubes["reported_h"].equals(other.tubes["reported_h"])


def test_keeping_residents_does_not_change_the_round(zhaoling: sim.Scenario) -> None:
    lean = sim.run(zhaoling)
    full = sim.run(zhaoling, detail="residents")
    pd.testing.assert_frame_equal(lean.tubes, full.tubes)
