"""The simulated world: demand, collection, transport, labs, wired in :mod:`sim.model.world`."""

from .world import Replication, run_replication

__all__ = ["Replication", "run_replication"]
