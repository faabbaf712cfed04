"""The one record stream of a replication: columnar tube arrays plus trip, stop, bag and plate rows.

Tubes are numbered point by point (in scenario order), each point's tubes in
seal order, so the tubes a vehicle takes from a point or a staff member takes
from a bag are always a contiguous range ``lo:hi`` and every stage writes its
timestamps with one slice assignment instead of one Python object per tube.
Timestamps are seconds from the round start; NaN means "not reached".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Plate:
    """One 96-well plate: its tube ranges and the time it passed each step."""

    id: int
    lab: int
    ranges: list[tuple[int, int]]
    tubes: int
    formed: float
    loaded: float = np.nan
    loader: int = -1
    extraction_instrument: int = -1
    extraction_start: float = np.nan
    extraction_end: float = np.nan
    pcr_instrument: int = -1
    pcr_start: float = np.nan
    pcr_end: float = np.nan
    report_start: float = np.nan
    reported: float = np.nan


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
    # trip rows: id, route, vehicle, reason, depart, back at lab, tubes, stops
    trips: list[tuple[int, int, int, str, float, float, int, int]] = field(default_factory=list)
    # stop rows: trip, point, arrive, depart, tubes
    stops: list[tuple[int, int, float, float, int]] = field(default_factory=list)
    # bag rows: id, lab, point, tube lo, tube hi, delivered, receive start, receive end, staff
    bags: list[tuple[int, int, int, int, int, float, float, float, int]] = field(
        default_factory=list
    )
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
