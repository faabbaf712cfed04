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
