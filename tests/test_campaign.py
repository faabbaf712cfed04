"""Campaigns: consecutive rounds, the work each leaves carried into the next.

The hand case is the hand round of conftest.py (every time worked out there), run twice,
the second round starting two hours (7,200 s) after the first. The first round's lab is
then still busy: in the second round's time, loading 0-1,500 s (plate 2), extraction
0-3,300 (plates 1 and 2), its one PCR instrument 1,500-10,500 (plates 1 and 2) and
report 6,000-6,600 and 10,500-11,100. Alone, the second round's plate 1 would start PCR
at 8,700; it waits for the instrument to 10,500 (PCR to 15,000, report to 15,600); plate
2, loaded and extracted by 10,500, follows (PCR 15,000-19,500, report 19,500-20,100).
The second round ends at 20,100 s instead of 18,300: 1,800 s later, the backlog's PCR
left over after plate 1's own wait.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.experiment.campaign import SEED_STEP, load_campaign, run_campaign, shifted
from sim.model.world import run_replication
from sim.results.result import tabulate
from sim.scenario.errors import ScenarioError

from .conftest import HAND_ROUND, SCENARIOS


def _campaign(write: Callable[..., Path], rounds: str, carry: bool = True) -> Path:
    write(HAND_ROUND, name="hand.yaml")
    return write(
        f"campaign:\n  name: hand\n  scenario: hand.yaml\n  carry_over: {str(carry).lower()}\n"
        f"  rounds:\n{rounds}",
        name="campaign.yaml",
    )


CLOSE = '    - {day: 1}\n    - {day: 1, start: "09:00"}\n'


def test_a_round_two_hours_after_another_waits_for_its_backlog(
    write_scenario: Callable[..., Path],
) -> None:
    table = run_campaign(_campaign(write_scenario, CLOSE)).table
    assert list(table["completion_h"] * 3600) == pytest.approx([18300, 20100])
    assert list(table["carried_tubes"]) == [0, 2]  # both tubes of round 1 unreported at 09:00
    alone = run_campaign(_campaign(write_scenario, CLOSE, carry=False)).table
    assert list(alone["completion_h"] * 3600) == pytest.approx([18300, 18300])


def test_rounds_far_apart_are_the_rounds_run_alone(write_scenario: Callable[..., Path]) -> None:
    path = _campaign(write_scenario, '    - {day: 1}\n    - {day: 3, start: "08:00"}\n')
    result = run_campaign(path, reps=2, seed=5)
    plan = load_campaign(path)
    assert plan.rounds[1].scenario.round.start == 8 * 3600
    for k, planned in enumerate(plan.rounds):
        for rep in range(2):
            alone = tabulate(run_replication(planned.scenario, rep, seed=5 + SEED_STEP * k))
            got = result.table[
                (result.table["round"] == k + 1) & (result.table["replication"] == rep)
            ]
            assert float(got["completion_h"].iloc[0]) == alone.kpis["completion_h"]
            assert int(got["carried_entries"].iloc[0]) == 0


def test_a_start_moves_every_clock_time_with_it() -> None:
    base = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    later = shifted(base, 3600.0)
    assert later.round.start == base.round.start + 3600
    assert later.demand.arrivals.span.open == base.demand.arrivals.span.open + 3600
    assert later.lab("henan-mobile-1").opens == base.lab("henan-mobile-1").opens + 3600  # type: ignore[operator]


def test_campaign_files_are_checked_like_scenarios(write_scenario: Callable[..., Path]) -> None:
    path = _campaign(write_scenario, "    - {day: 1, sett: {}}\n")
    with pytest.raises(ScenarioError, match=r"campaign\.yaml:6:\d+: campaign\.rounds\[0\]\.sett"):
        load_campaign(path)
    path = _campaign(write_scenario, "    - {day: 1, set: {labs.L.pcr.instrumnets: 3}}\n")
    with pytest.raises(ScenarioError, match=r"campaign\.yaml:6:\d+: .*instrumnets"):
        load_campaign(path)
    path = _campaign(write_scenario, "    - {days: 3-1}\n")
    with pytest.raises(ScenarioError, match="first day is 1 or later, and not after the last"):
        load_campaign(path)


def test_the_command_writes_a_folder_with_its_page(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    path = _campaign(write_scenario, CLOSE)
    out = tmp_path / "camp"
    got = CliRunner().invoke(app, ["campaign", str(path), "--reps", "2", "-o", str(out)])
    assert got.exit_code == 0, got.output
    assert "round  2" in got.output and "carried in 2 tubes" in got.output
    for name in ("rounds.csv", "report.html", "summary.json", "manifest.json",
                 "tables/campaign.parquet", "figures/completion_by_round.png"):  # fmt: skip
        assert (out / name).is_file(), name
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "rounds start with tubes carried over" in page
    # two replications of two rounds, the 6 h target met in both, the 5 h in neither
    assert "6 h target met in every replication of 2 of 2 rounds" in page
    assert "5 h target met in every replication of 0 of 2 rounds, in none of 2" in page


def test_the_zhaoling_campaign_has_its_early_and_later_rounds() -> None:
    plan = load_campaign(SCENARIOS / "zhaoling-campaign.yaml")
    assert len(plan.rounds) == 22 and [r.day for r in plan.rounds] == list(range(1, 23))
    opens = [r.scenario.lab("henan-mobile-1").opens for r in plan.rounds]
    assert opens[:3] == [12 * 3600] * 3 and set(opens[3:]) == {10 * 3600}


def test_a_campaign_file_given_as_a_scenario_says_what_it_is() -> None:
    with pytest.raises(
        ScenarioError, match="a campaign file, not a scenario: run it with natsim campaign"
    ):
        sim.load_scenario(SCENARIOS / "zhaoling-campaign.yaml")


def test_a_campaign_folder_is_listed_and_its_page_rebuilt(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "runs" / "camp"
    result = run_campaign(_campaign(write_scenario, CLOSE))
    result.save(out)
    page = (out / "report.html").read_text()
    got = CliRunner().invoke(app, ["report", str(out)])
    assert got.exit_code == 0, got.output
    assert (out / "report.html").read_text() == page  # the same page, from the files alone
    index = sim.runs(tmp_path / "runs")
    assert list(index["kind"]) == ["campaign"] and list(index["scenario"]) == ["hand"]
