"""What a run will cost before it starts: residents, memory and time, from measured rates.

A scenario can be valid and still far too big for the machine (a billion
residents, a typo of three zeros): the run would grow until the operating
system kills it, minutes later, with nothing said. :func:`estimate` gives the
figures from the scenario alone, and :func:`refuse_if_too_big` stops a run at
once, with them, when its memory would not fit in what the machine has free.

The rates are the benchmark's (docs/performance.md, 10 M and 25 M residents on
the development machine): about 37 bytes of peak memory per resident over a
fixed ~310 MB, while the residents of the point being swabbed live in arrays
of about 48 bytes each, and ``--detail residents`` keeps a table row of about
150 bytes per resident. Time is about 1.7 M residents a second on one core.
The figures are estimates to within a factor of about two, which is what a
refusal needs: the runs it refuses are tens of times too big.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from .model.capacity import expected_residents
from .scenario.schema import Scenario

BASE_BYTES = 310 * 2**20
PER_RESIDENT = 37.0
PER_RESIDENT_OF_A_POINT = 48.0
PER_RESIDENT_DETAIL = 150.0
RESIDENTS_PER_SECOND = 1.7e6
FIXED_SECONDS = 0.5
USABLE = 0.8  # of the memory the machine has available


class Estimate(NamedTuple):
    """The size of one replication of a scenario."""

    residents: float
    largest_point: float
    memory_bytes: float
    seconds: float

    def describe(self) -> str:
        return (
            f"about {self.residents:,.0f} residents ({self.largest_point:,.0f} at the largest "
            f"point): {self.memory_bytes / 2**30:,.1f} GB of memory and "
            f"{_duration(self.seconds)} a replication"
        )


def estimate(scenario: Scenario, detail: str = "tubes") -> Estimate:
    """The expected residents, peak memory and run time of one replication."""
    residents = expected_residents(scenario)
    total = float(residents.sum())
    largest = float(residents.max()) if residents.size else 0.0
    memory = BASE_BYTES + PER_RESIDENT * total + PER_RESIDENT_OF_A_POINT * largest
    if detail == "residents":
        memory += PER_RESIDENT_DETAIL * total
    return Estimate(total, largest, memory, FIXED_SECONDS + total / RESIDENTS_PER_SECOND)


def available_bytes() -> float:
    """Memory the machine can give now (MemAvailable), or its physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


class TooBig(Exception):
    """A run that would not fit in this machine's memory (the message has the figures)."""


def refuse_if_too_big(
    scenario: Scenario, detail: str = "tubes", at_once: int = 1, available: float | None = None
) -> Estimate:
    """The estimate, or :class:`TooBig` when ``at_once`` replications of it (one per
    worker) need more than the usable share of the available memory."""
    found = estimate(scenario, detail)
    free = available_bytes() if available is None else available
    need = found.memory_bytes * max(1, at_once)
    if need > USABLE * free:
        workers = f" x {at_once} workers" if at_once > 1 else ""
        hint = (
            " (--detail tubes needs less)"
            if detail == "residents"
            else " (fewer workers need less)"
            if at_once > 1
            else ""
        )
        raise TooBig(
            f"too big for this machine: {found.describe()}{workers}, but only "
            f"{free / 2**30:,.1f} GB is free{hint}; check demand.zones and "
            "demand.participation, or run on a bigger machine"
        )
    return found


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h"
