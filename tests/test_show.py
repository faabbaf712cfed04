"""``natsim show``: a scenario in one screen, figures worked out from the scenario alone."""

from __future__ import annotations

from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.model.capacity import expected_tubes

from .conftest import SCENARIOS


def test_show_describes_zhaoling_with_its_figures() -> None:
    got = CliRunner().invoke(app, ["show", str(SCENARIOS / "zhaoling.yaml")])
    assert got.exit_code == 0, got.output
    out = got.output
    sc = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    assert "400,875 people in 5,275 zones" in out
    assert f"{expected_tubes(sc).sum():,.0f} tubes" in out
    for lab in ("luohe-cdc", "zhaoling-hospital", "henan-mobile-1"):
        assert lab in out
    assert "79,488" in out and "10:00" in out  # henan-mobile-1: capacity, opening
    assert "68 vehicles on 68 routes" in out
    # lines are not wrapped at 80 columns when the output is not a terminal
    assert any(len(line) > 100 for line in out.splitlines())


def test_show_names_a_labs_own_steps_and_the_warnings(tmp_path: object) -> None:
    got = CliRunner().invoke(
        app,
        ["show", str(SCENARIOS / "zhaoling-shared-staff.yaml"),
         "--set", "labs.*.steps.extract.batch.wait=null"],
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    assert "receive > load > extract > pcr > report" in got.output
    assert "batch.wait" in got.output  # the strict batch now strands plates: a warning
