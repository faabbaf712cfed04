"""Records -> tidy DataFrames and KPIs; the run folder."""

from .io import RunFolderError, load_run
from .result import ReplicationResult, Result, tabulate

__all__ = ["ReplicationResult", "Result", "RunFolderError", "load_run", "tabulate"]
