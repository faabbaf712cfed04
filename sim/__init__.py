"""natsim: simulate a citywide mass nucleic-acid testing round (collect, transport, test, report).

>>> import sim
>>> scenario = sim.load_scenario("scenarios/zhaoling.yaml")
>>> result = sim.run(scenario, seed=1)
>>> result.summary()["completion_h"], result.tubes.head()
>>> many = sim.replicate(scenario, 100)             # P(met) with confidence intervals
>>> many.summary()["targets"], many.kpis, many.statistics()
>>> sim.levers(scenario, reps=10).top()            # what a step more of each resource buys
>>> sim.sweep(scenario, {"labs.henan-mobile-1.pcr.instruments": [30, 40, 46]}, reps=10).table
>>> sim.runs("runs")                               # every run folder, a row each
>>> sim.campaign("scenarios/zhaoling-campaign.yaml", reps=5).rounds()  # round after round
>>> morning = sim.Round(scenario); morning.run(3 * 3600); state = morning.save()  # at 10:00
>>> sim.nowcast.stop_and_save(scenario, "10:00", "runs/at10")   # the state as files
>>> sim.nowcast.nowcast(scenario, "runs/at10", reps=20).summary()  # the rest, from there
"""

from . import nowcast
from .api import run
from .experiment import compare, plan, replicate, sweep
from .experiment.campaign import run_campaign as campaign
from .experiment.levers import levers
from .model.world import Round
from .results import Result, load_run
from .results.runs import run_index as runs
from .scenario import Scenario, ScenarioError, load_scenario
from .version import __version__

__all__ = [
    "Result",
    "Round",
    "Scenario",
    "ScenarioError",
    "__version__",
    "campaign",
    "compare",
    "levers",
    "load_run",
    "load_scenario",
    "nowcast",
    "plan",
    "replicate",
    "run",
    "runs",
    "sweep",
]
