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

    Arguments:

    * ``scenario``: a :class:`~sim.scenario.schema.Scenario` or the path of a scenario
      file (``sim.load_scenario``; change one with ``scenario.with_changes({...})``);
    * ``seed``: defaults to the scenario's ``round.seed``; replication r draws from
      streams keyed by (seed, r, name), so replication 3 of a 10-replication run equals
      replication 3 of a 5-replication run, and a changed lab never moves an arrival;
    * ``replications``: how many (for many, with intervals and workers: ``sim.replicate``);
    * ``detail``: ``"tubes"`` (the default) or ``"residents"``, which adds one row per
      resident (``result.residents``).

    The :class:`~sim.results.result.Result` holds, stacked over replications (column
    ``replication``): ``tubes`` (every tube's point, trip, lab, plate and the time of each
    step, hours from the start), ``plates``, ``bags``, ``points`` (queues, waits, last
    swab), ``trips``, ``stops``, ``vehicles``, ``labs`` (utilisation per lab and pool),
    ``timeline`` (curves by the quarter hour), ``kpis`` (one row a replication), and,
    with their sections, ``recalls``, ``single_tubes``, ``teams``, ``door``,
    ``failures``; ``summary()`` is the headline (``summary.json``). ``result.save(folder,
    report=True)`` writes what ``natsim run`` writes, figures and ``report.html``
    included; ``sim.plots`` draws its figures; ``sim.load_run(folder)`` reopens it.
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
