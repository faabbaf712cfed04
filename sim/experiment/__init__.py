"""Experiments over replications: confidence intervals, sweeps, comparisons, capacity plans.

Every experiment maps the pure :func:`sim.model.world.run_replication` over
replication numbers (and scenario variants) on an executor — this process,
local worker processes, or a Dask cluster — and aggregates the per-replication
KPIs in replication order. Replication r of seed s draws from the streams keyed
by (s, r, name), so it is the same replication on every executor, and every
variant of a sweep or a plan sees the same arrivals in replication r (common
random numbers). See docs/experiments.md.
"""

from .compare import compare
from .executors import DaskExecutor, Executor, ProcessExecutor, SerialExecutor, make_executor
from .plan import Plan, Resource, plan
from .replicate import Job, Runner, replicate
from .sweep import Sweep, sweep

__all__ = [
    "DaskExecutor",
    "Executor",
    "Job",
    "Plan",
    "ProcessExecutor",
    "Resource",
    "Runner",
    "SerialExecutor",
    "Sweep",
    "compare",
    "make_executor",
    "plan",
    "replicate",
    "sweep",
]
