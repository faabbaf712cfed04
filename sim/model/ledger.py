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
from typing import Any, NamedTuple

import numpy as np

from ..stages import BAG_STAGES, PLATE_STAGES

NAN = float("nan")
# fresh per-stage records of a bag and a plate, copied for each new one
_BAG_TIMES = [NAN] * (2 * len(BAG_STAGES))
_BAG_SERVERS = [-1] * len(BAG_STAGES)
_PLATE_TIMES = [NAN] * (2 * len(PLATE_STAGES))
_PLATE_SERVERS = [-1] * len(PLATE_STAGES)


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
    """One handover at a point: the trip took tubes ``lo:hi``."""

    trip: int
    point: int
    arrive: float
    depart: float
    tubes: int
    lo: int
    hi: int


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
        self.times = _BAG_TIMES.copy()  # start, end of each bag stage
        self.server = _BAG_SERVERS.copy()

    @property
    def received(self) -> float:
        """When its tubes came out of the last bag stage (NaN: not yet)."""
        return self.times[-1]


class Plate:
    """One plate: its tube ranges and the runs of the plate stages (the first formed it)."""

    __slots__ = ("id", "lab", "ranges", "server", "times", "tubes")

    def __init__(self, id: int, lab: int, ranges: list[tuple[int, int]], tubes: int) -> None:
        self.id = id
        self.lab = lab
        self.ranges = ranges
        self.tubes = tubes
        self.times = _PLATE_TIMES.copy()  # start, end of each plate stage
        self.server = _PLATE_SERVERS.copy()

    @property
    def formed(self) -> float:
        """When its first stage took it (the plate was formed)."""
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

    def settle(self) -> None:
        """Write the tubes' trip, pick-up, delivery, lab, bag, receipt and plate columns from
        the stop, trip, bag and plate records.

        While a round runs, vehicles and labs keep records of ranges of tubes, not the
        tube arrays: a slice assignment per tube range and step cost more than the
        events themselves. Every range is contiguous, so each column is one gather.
        """
        if self.stops:
            lo, hi, trip, depart = _fields(self.stops, ("lo", "hi", "trip", "depart"))
            rows, which = _spread(lo, hi)
            self.tube_trip[rows] = trip[which]
            self.tube_picked_up[rows] = depart[which]
            # delivered when its trip reached a lab (NaN: still on the road)
            back = np.array([t.back for t in self.trips])
            self.tube_delivered[rows] = back[trip[which]]
        if self.bags:
            lo, hi, lab, bag, received = _fields(self.bags, ("lo", "hi", "lab", "id", "received"))
            rows, which = _spread(lo, hi)
            self.tube_lab[rows] = lab[which]
            self.tube_bag[rows] = bag[which]
            self.tube_received[rows] = received[which]
        if self.plates:
            ranges = [(lo, hi, p.id) for p in self.plates for lo, hi in p.ranges]
            lo, hi, plate = (np.array(c, dtype=np.int64) for c in zip(*ranges, strict=True))
            rows, which = _spread(lo, hi)
            self.tube_plate[rows] = plate[which]


def _fields(records: list[Any], names: tuple[str, ...]) -> list[np.ndarray]:
    """Columns of ``names`` over ``records`` (numbers: ints stay ints, times are floats)."""
    columns = zip(*(tuple(getattr(r, name) for name in names) for r in records), strict=True)
    return [np.array(c) for c in columns]


def _spread(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every position of the ranges ``lo:hi``, and which range each is in."""
    lengths = hi - lo
    which = np.repeat(np.arange(lo.size), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows = np.arange(int(lengths.sum())) + np.repeat(lo - starts, lengths)
    return rows, which
