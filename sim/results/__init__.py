"""Records -> tidy DataFrames and KPIs; the run folder."""

from .io import load_run
from .result import ReplicationResult, Result, tabulate

__all__ = ["ReplicationResult", "Result", "load_run", "tabulate"]
