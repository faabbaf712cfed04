"""The one record stream of a replication: columnar tube arrays plus trip, stop, bag and plate rows.

Tubes are numbered point by point (in scenario order), each point's tubes in
seal order, so the tubes a vehicle takes from a point or a staff member takes
from a bag are always a contiguous range ``lo:hi`` and every stage writes its
timestamps with one slice assignment instead of one Python object per tube.
Timestamps are seconds from the round start; NaN means "not reached".

A bag or a plate keeps, for each lab stage that works on it (in the order of
:data:`sim.stages.BAG_STAGES` and :data:`sim.stages.PLATE_STAGES`), when a run
started and ended and which server ran it; the tables read them through the
stage registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..stages import BAG_STAGES, PLATE_STAGES

NAN = float("nan")


class TripRecord(NamedTuple):
    """One vehicle trip: from its lab (or wherever it was) round its points to a lab."""

    id: int
    route: int
    vehicle: int
    reason: str  # why it set out: "schedule", "threshold" or "sweep"
    depart: float
    back: float  # when it reached the lab it delivered to (NaN: still out)
    tubes: int
    stops: int
    lab: int  # the lab it delivered to (-1: not chosen yet)
    choice: str  # why that lab (the dispatch rule's reason)


class StopRecord(NamedTuple):
    """One handover at a point."""

    trip: int
    point: int
    arrive: float
    depart: float
    tubes: int


class Bag:
    """One bag delivered to a lab: its tubes ``lo:hi`` and the runs of the bag stages."""

    __slots__ = ("delivered", "hi", "id", "lab", "lo", "point", "server", "times")

    def __init__(self, id: int, lab: int, point: int, lo: int, hi: int, delivered: float) -> None:
        self.id = id
        self.lab = lab
        self.point = point
        self.lo = lo
        self.hi = hi
        self.delivered = delivered
        self.times = [NAN] * (2 * len(BAG_STAGES))  # start, end of each bag stage
        self.server = [-1] * len(BAG_STAGES)


class Plate:
    """One plate: its tube ranges and the runs of the plate stages (the first formed it)."""

    __slots__ = ("id", "lab", "ranges", "server", "times", "tubes")

    def __init__(self, id: int, lab: int, ranges: list[tuple[int, int]], tubes: int) -> None:
        self.id = id
        self.lab = lab
        self.ranges = ranges
        self.tubes = tubes
        self.times = [NAN] * (2 * len(PLATE_STAGES))  # start, end of each plate stage
        self.server = [-1] * len(PLATE_STAGES)

    @property
    def formed(self) -> float:
        return self.times[0]

    @property
    def reported(self) -> float:
        return self.times[-1]


@dataclass
class Ledger:
    """Everything that happened in one replication, as arrays and row lists."""

    n_tubes: int
    tube_point: np.ndarray
    tube_station: np.ndarray
    tube_size: np.ndarray
    tube_first: np.ndarray
    tube_last: np.ndarray
    tube_sealed: np.ndarray
    tube_trip: np.ndarray = field(init=False)
    tube_picked_up: np.ndarray = field(init=False)
    tube_delivered: np.ndarray = field(init=False)
    tube_lab: np.ndarray = field(init=False)
    tube_bag: np.ndarray = field(init=False)
    tube_received: np.ndarray = field(init=False)
    tube_plate: np.ndarray = field(init=False)
    trips: list[TripRecord] = field(default_factory=list)
    stops: list[StopRecord] = field(default_factory=list)
    bags: list[Bag] = field(default_factory=list)
    plates: list[Plate] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.n_tubes
        self.tube_trip = np.full(n, -1, np.int64)
        self.tube_picked_up = np.full(n, np.nan)
        self.tube_delivered = np.full(n, np.nan)
        self.tube_lab = np.full(n, -1, np.int32)
        self.tube_bag = np.full(n, -1, np.int64)
        self.tube_received = np.full(n, np.nan)
        self.tube_plate = np.full(n, -1, np.int64)
