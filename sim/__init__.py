"""natsim: simulate a citywide mass nucleic-acid testing round (collect, transport, test, report).

>>> import sim
>>> scenario = sim.load_scenario("scenarios/zhaoling.yaml")
>>> result = sim.run(scenario, seed=1)
>>> result.summary()["completion_h"], result.tubes.head()
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("natsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

from .api import run
from .results import Result, load_run
from .scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Result", "Scenario", "ScenarioError", "__version__", "load_run", "load_scenario", "run"]
