"""The Python entry points the CLI and the notebooks share."""

from __future__ import annotations

from pathlib import Path

from .footprint import refuse_if_too_big
from .model.world import Detail, run_replication
from .results.result import Result, tabulate
from .scenario import Scenario, load_scenario


def run(
    scenario: Scenario | str | Path,
    seed: int | None = None,
    replications: int = 1,
    detail: Detail = "tubes",
) -> Result:
    """Simulate ``replications`` replications of a round (one process) and tabulate them.

    ``seed`` defaults to the scenario's ``round.seed``; replication r draws from
    streams keyed by (seed, r, name), so replication 3 of a 10-replication run
    equals replication 3 of a 5-replication run.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    refuse_if_too_big(scenario, detail)  # a run that cannot fit fails now, with the figures
    seed = scenario.round.seed if seed is None else seed
    parts = [
        tabulate(run_replication(scenario, r, seed=seed, detail=detail))
        for r in range(replications)
    ]
    return Result(scenario, seed, parts)
