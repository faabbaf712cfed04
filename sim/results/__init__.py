"""Records -> tidy DataFrames and KPIs; the run folder."""

from .io import RunFolderError, read_run
from .result import ReplicationResult, Result, load_run, tabulate

__all__ = ["ReplicationResult", "Result", "RunFolderError", "load_run", "read_run", "tabulate"]
