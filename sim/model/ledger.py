"""The one record stream of a replication: columnar tube arrays plus trip, stop, bag and plate rows.

Tubes are numbered point by point (in scenario order), each point's tubes in
seal order, so the tubes a vehicle takes from a point or a staff member takes
from a bag are always a contiguous range ``lo:hi`` and every stage writes its
timestamps with one slice assignment instead of one Python object per tube.
Timestamps are seconds from the round start; NaN means "not reached".

A bag or a plate keeps, for each lab step that works on it (in the order of the
process's bag stages and plate stages, :class:`sim.stages.Process`), when a run
started and ended and which server ran it; the tables read them through the
stage registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from ..stages import DEFAULT

NAN = float("nan")
Blank = tuple[list[float], list[int]]


def blank(steps: int) -> Blank:
    """Fresh per-step records (start and end times, server) for ``steps`` steps, copied
    for each new bag or plate."""
    return [NAN] * (2 * steps), [-1] * steps


_BAG_BLANK = blank(len(DEFAULT.bag_stages))
_PLATE_BLANK = blank(len(DEFAULT.plate_stages))


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
    urgent = False  # a recall's single tubes (sim.model.followup) go ahead of the queues

    def __init__(
        self, id: int, lab: int, point: int, lo: int, hi: int, delivered: float,
        blank: Blank = _BAG_BLANK,
    ) -> None:  # fmt: skip
        self.id = id
        self.lab = lab
        self.point = point
        self.lo = lo
        self.hi = hi
        self.delivered = delivered
        self.times = blank[0].copy()  # start, end of each bag stage
        self.server = blank[1].copy()

    @property
    def received(self) -> float:
        """When its tubes came out of the last bag step (NaN: not yet; a lab without bag
        steps has them at once)."""
        return self.times[-1] if self.times else self.delivered


class Plate:
    """One plate: its tube ranges and the runs of the plate stages (the first formed it)."""

    __slots__ = ("id", "lab", "ranges", "server", "times", "tubes")
    urgent = False

    def __init__(
        self, id: int, lab: int, ranges: list[tuple[int, int]], tubes: int,
        blank: Blank = _PLATE_BLANK,
    ) -> None:  # fmt: skip
        self.id = id
        self.lab = lab
        self.ranges = ranges
        self.tubes = tubes
        self.times = blank[0].copy()  # start, end of each plate stage
        self.server = blank[1].copy()

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
    tube_arrival: np.ndarray  # when the tube's first resident came to the point
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
            lo, hi = lo.astype(np.int64), hi.astype(np.int64)
            _check_ranges(lo, hi, self.n_tubes)
            _fill(self.tube_trip, lo, hi, trip.astype(np.int64))
            _fill(self.tube_picked_up, lo, hi, depart)
            # delivered when its trip reached a lab (NaN: still on the road)
            (back,) = _fields(self.trips, ("back",))
            _fill(self.tube_delivered, lo, hi, back[trip.astype(np.int64)])
        if self.bags:
            lo, hi, lab, bag, received = _fields(self.bags, ("lo", "hi", "lab", "id", "received"))
            lo, hi = lo.astype(np.int64), hi.astype(np.int64)
            _check_ranges(lo, hi, self.n_tubes)
            _fill(self.tube_lab, lo, hi, lab.astype(np.int32))
            _fill(self.tube_bag, lo, hi, bag.astype(np.int64))
            _fill(self.tube_received, lo, hi, received)
        if self.plates:
            ranges = np.array(
                list(chain.from_iterable(map(_RANGES, self.plates))), dtype=np.int64
            ).reshape(-1, 2)
            counts = np.fromiter(map(len, map(_RANGES, self.plates)), np.int64, len(self.plates))
            plate = np.repeat(np.arange(len(self.plates), dtype=np.int64), counts)
            _check_ranges(ranges[:, 0], ranges[:, 1], self.n_tubes)
            _fill(self.tube_plate, ranges[:, 0].copy(), ranges[:, 1].copy(), plate)


def _fields(records: list[Any], names: tuple[str, ...]) -> list[np.ndarray]:
    """Columns of ``names`` over ``records``, read in one pass (as floats: tube and record
    numbers are far below 2**53, so they come back exact; cast them where needed)."""
    get = attrgetter(*names)
    # attrgetter of several names gives a tuple per record
    values = chain.from_iterable(map(get, records)) if len(names) > 1 else map(get, records)
    flat = np.fromiter(values, float, len(records) * len(names))
    return list(flat.reshape(len(records), len(names)).T)


_RANGES = attrgetter("ranges")


def _check_ranges(lo: np.ndarray, hi: np.ndarray, n: int) -> None:
    """The compiled fill does not check bounds: a range outside the tubes is a bug to stop
    at, never a write past the array."""
    if lo.size and (lo.min() < 0 or hi.max() > n or (hi < lo).any()):
        raise RuntimeError(f"a tube range outside 0..{n}: {int(lo.min())}..{int(hi.max())}")


@njit(cache=True)
def _fill(target: np.ndarray, lo: np.ndarray, hi: np.ndarray, values: np.ndarray) -> None:
    """``target[lo[k]:hi[k]] = values[k]`` for every range k (compiled: one call a column)."""
    for k in range(lo.size):
        v = values[k]
        for i in range(lo[k], hi[k]):
            target[i] = v


class _Each:
    """One list index written on every member at once: a combined plate's times and servers
    (read from its first member, as they are the same on all)."""

    __slots__ = ("lists",)

    def __init__(self, lists: list[list[Any]]) -> None:
        self.lists = lists

    def __setitem__(self, k: int, value: Any) -> None:
        for values in self.lists:
            values[k] = value

    def __getitem__(self, k: int) -> Any:
        return self.lists[0][k]


class Combined:
    """Plates that go on together as one from a combining step (``combine: true``: four
    96-well plates stamped into one 384-well plate): every step after it stamps each
    member plate, so each plate's record keeps its own row in the tables."""

    __slots__ = ("plates", "server", "times")

    def __init__(self, items: list[Any]) -> None:
        plates: list[Plate] = []
        for item in items:
            plates.extend(item.plates if isinstance(item, Combined) else (item,))
        self.plates: list[Plate] = plates
        self.times = _Each([p.times for p in plates])
        self.server = _Each([p.server for p in plates])

    @property
    def urgent(self) -> bool:
        return any(p.urgent for p in self.plates)

    @property
    def lab(self) -> int:
        return self.plates[0].lab

    @property
    def tubes(self) -> int:
        return sum(p.tubes for p in self.plates)
