"""Route controllers on hand-made tube stocks: when vehicles set out, what they take, when they deliver."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sim.model.calendars import FINISH, RESUME, VehicleEntry
from sim.model.dispatch import Dispatcher
from sim.model.draws import Buffered
from sim.model.engine import Engine
from sim.model.ledger import Ledger
from sim.model.transport import PointStock, RouteService, TravelTimes, Vehicle
from sim.scenario.schema import Pickups, Route


class _Lab(SimpleNamespace):
    """A lab that only takes deliveries."""

    def __init__(self) -> None:
        super().__init__(config=SimpleNamespace(id="L"), opens_at=0.0, in_hand=0, coming=0)

    def deliver(self, bags: Any) -> None:
        pass


class _Travel(TravelTimes):
    """Fixed driving times between named places (seconds)."""

    def __init__(self, times: dict[tuple[str, str], float]) -> None:
        self.times = times
        self.matrix = {}
        self.where = {}

    def base(self, a: str, b: str) -> float:
        return self.times.get((a, b), self.times.get((b, a), 0.0))


def _run(
    sealed: dict[str, list[float]],
    pickups: Pickups,
    vehicles: int,
    times: dict[tuple[str, str], float],
    schedule: list[float] | None = None,
    calendars: dict[str, list[VehicleEntry]] | None = None,
) -> Ledger:
    """Route R (points ``sealed``, in order) from lab L, fixed legs ``times``, handover 60 s,
    no noise; ``schedule``: the pickup times; ``calendars``: the vehicles' outages."""
    engine = Engine()
    sizes = [len(v) for v in sealed.values()]
    ledger = Ledger(
        n_tubes=sum(sizes),
        tube_point=np.repeat(np.arange(len(sizes)), sizes).astype(np.int32),
        tube_station=np.zeros(sum(sizes), np.int32),
        tube_size=np.ones(sum(sizes), np.int32),
        tube_first=np.zeros(sum(sizes)),
        tube_last=np.zeros(sum(sizes)),
        tube_sealed=np.concatenate([np.array(v, dtype=float) for v in sealed.values()]),
        tube_arrival=np.zeros(sum(sizes)),
    )
    stocks, lo = [], 0
    for i, (key, seals) in enumerate(sealed.items()):
        stocks.append(PointStock(i, key, np.array(seals, dtype=float), lo, 50))
        lo += len(seals)
    fixed = Buffered(lambda r, n: np.ones(n), None, 1.0)
    labs: Any = [_Lab()]
    RouteService(
        engine, 0, Route(id="R", points=tuple(sealed), lab="L", vehicles=vehicles), stocks,
        [Vehicle(k, f"R/v{k + 1}", fixed) for k in range(vehicles)], labs, Dispatcher(labs),
        _Travel(times), Buffered(lambda r, n: np.zeros(n), None, 60.0), pickups, schedule or [],
        ledger, calendars or {},
    )  # fmt: skip
    engine.run(100_000)
    ledger.settle()
    return ledger


def test_threshold_trip_takes_what_was_sealed_by_arrival() -> None:
    # A seals at 100, 200, 300; threshold 2 -> leave at 200, reach A at 800, hand over to 860,
    # take the 3 tubes sealed by 800, back at the lab at 1460.
    led = _run(
        {"A": [100, 200, 300]},
        Pickups(every=None, when_tubes=2, final_sweep=False),
        1,
        {("L", "A"): 600},
    )
    assert led.trips == [(0, 0, 0, "threshold", 200.0, 1460.0, 3, 1, 0, "route lab")]
    assert led.tube_picked_up.tolist() == [860.0] * 3
    assert led.tube_delivered.tolist() == [1460.0] * 3


def test_final_sweep_after_the_last_seal() -> None:
    led = _run({"A": [100, 200, 5000]}, Pickups(every=None, final_sweep=True), 1, {("L", "A"): 600})
    assert [t.reason for t in led.trips] == ["sweep"]
    assert led.trips[0].depart == 5000.0 and led.trips[0].tubes == 3


def test_an_idle_vehicle_serves_a_point_released_by_a_trip_still_under_way() -> None:
    # Two vehicles. A reaches the threshold (2) at 200: vehicle 1 leaves, takes A's two
    # tubes at 800 and drives on to far-away B (back at 800 + 60 + 5000 + 60 + 5000).
    # A seals two more by 1100: the idle vehicle 2 must leave then, not when vehicle 1 is back.
    led = _run(
        {"A": [100, 200, 1000, 1100], "B": [50]},
        Pickups(every=None, when_tubes=2, final_sweep=False),
        2,
        {("L", "A"): 600, ("A", "B"): 5000, ("L", "B"): 5000},
    )
    departures = sorted((t.depart, t.vehicle) for t in led.trips)
    assert departures[:2] == [(200.0, 0), (1100.0, 1)]
    assert led.tube_picked_up[2:4].tolist() == [1100.0 + 600 + 60] * 2


# -- vehicles out of service ------------------------------------------------------------------
# One point A, 600 s from lab L each way, a 60 s handover; pickups on a schedule only.
ON_SCHEDULE = Pickups(every=None, when_tubes=None, final_sweep=False)
LEGS = {("L", "A"): 600.0}


@pytest.mark.parametrize("rule", [FINISH, RESUME], ids=["finish", "resume"])
def test_an_idle_vehicle_out_of_service_leaves_when_it_is_back(rule: int) -> None:
    """A seals at 100 and 200; a pickup is due at 1000; the only vehicle, idle at the lab,
    is out 500-2000 (either rule: it has no trip to finish or stop). The pickup leaves
    when it is back, at 2000 (not at 1000): reaches A at 2600, takes both tubes by 2660,
    back at the lab at 3260. Without the outage: 1000, 1660, 2260."""
    calm = _run({"A": [100, 200]}, ON_SCHEDULE, 1, LEGS, [1000.0])
    assert calm.trips == [(0, 0, 0, "schedule", 1000.0, 2260.0, 2, 1, 0, "route lab")]
    led = _run(
        {"A": [100, 200]},
        ON_SCHEDULE,
        1,
        LEGS,
        [1000.0],
        {"R/v1": [VehicleEntry(500.0, 2000.0, rule)]},
    )
    assert led.trips == [(0, 0, 0, "schedule", 2000.0, 3260.0, 2, 1, 0, "route lab")]
    assert led.stops == [(0, 0, 2600.0, 2660.0, 2, 0, 2)]
    assert led.tube_picked_up.tolist() == [2660.0] * 2
    assert led.tube_delivered.tolist() == [3260.0] * 2


def test_an_idle_vehicle_out_of_service_is_not_sent_while_another_is() -> None:
    """Two vehicles; A seals at 100 and 1800; pickups at 1000 and 1500. v1 takes the first:
    1000, at A 1600 (one tube), back 2260. Without outages v2 takes the second at 1500
    (at A 2100, the tube sealed at 1800, back 2760). With v2 out 0-5000 it waits for v1's
    return: v1 leaves again at 2260, at A 2860, hands over to 2920, back 3520."""
    sealed = {"A": [100.0, 1800.0]}
    calm = _run(sealed, ON_SCHEDULE, 2, LEGS, [1000.0, 1500.0])
    assert [(t.vehicle, t.depart, t.back, t.tubes) for t in calm.trips] == [
        (0, 1000.0, 2260.0, 1),
        (1, 1500.0, 2760.0, 1),
    ]
    led = _run(
        sealed,
        ON_SCHEDULE,
        2,
        LEGS,
        [1000.0, 1500.0],
        {"R/v2": [VehicleEntry(0.0, 5000.0, FINISH)]},
    )
    assert [(t.vehicle, t.depart, t.back, t.tubes) for t in led.trips] == [
        (0, 1000.0, 2260.0, 1),
        (0, 2260.0, 3520.0, 1),
    ]


@pytest.mark.parametrize(("end", "second"), [(5000.0, 5000.0), (2000.0, 3000.0)])
def test_finish_completes_the_trip_then_the_vehicle_stays_out(end: float, second: float) -> None:
    """Pickups at 1000 and 3000; A seals at 100, 200, 2500, 2600. The vehicle leaves at 1000
    and goes out of service at 1500, on its way (``finish``): it still reaches A at 1600,
    takes the two tubes sealed by then (to 1660) and is back at 2260, the trip as without
    the outage. Then it stays out until the entry ends: the 3000 pickup leaves at 5000
    (reaches A 5600, hands over to 5660, back 6260). If the entry is over by the time it
    is back (ended 2000), the 3000 pickup leaves on time (back 4260)."""
    led = _run(
        {"A": [100, 200, 2500, 2600]}, ON_SCHEDULE, 1, LEGS, [1000.0, 3000.0],
        {"R/v1": [VehicleEntry(1500.0, end, FINISH)]},
    )  # fmt: skip
    assert led.trips == [
        (0, 0, 0, "schedule", 1000.0, 2260.0, 2, 1, 0, "route lab"),
        (1, 0, 0, "schedule", second, second + 1260.0, 2, 1, 0, "route lab"),
    ]
    assert led.tube_picked_up.tolist() == [1660.0] * 2 + [second + 660.0] * 2


@pytest.mark.parametrize(
    ("entries", "arrive", "picked_up", "back"),
    [
        # out 1200-1500 while driving to A (arrival due 1600): arrives 300 s later
        ([VehicleEntry(1200.0, 1500.0, RESUME)], 1900.0, 1960.0, 2560.0),
        # out 1620-1720 during the handover (due 1660): it ends 100 s later
        ([VehicleEntry(1620.0, 1720.0, RESUME)], 1600.0, 1760.0, 2360.0),
        # out 1800-2400 on the way back (due 2260): back 600 s later
        ([VehicleEntry(1800.0, 2400.0, RESUME)], 1600.0, 1660.0, 2860.0),
        # two entries overlapping, 1200-1500 and 1400-1800: out 1200-1800, 600 s later
        (
            [VehicleEntry(1200.0, 1500.0, RESUME), VehicleEntry(1400.0, 1800.0, FINISH)],
            2200.0, 2260.0, 2860.0,
        ),
    ],
)  # fmt: skip
def test_resume_delays_the_pending_leg_by_the_outage(
    entries: list[VehicleEntry], arrive: float, picked_up: float, back: float
) -> None:
    """The trip leaves at 1000: drives to A 1000-1600, hands over 1600-1660 (A's two tubes,
    sealed at 100 and 200 and so by any arrival), drives back 1660-2260. With ``resume``
    the step under way when the vehicle goes out stops there and ends exactly the outage's
    length later; the steps after it are as long as ever. (Two overlapping entries hold the
    vehicle out from the first start to the last end; the first's rule applies.)"""
    led = _run({"A": [100, 200]}, ON_SCHEDULE, 1, LEGS, [1000.0], {"R/v1": entries})
    assert led.stops == [(0, 0, arrive, picked_up, 2, 0, 2)]
    assert led.trips == [(0, 0, 0, "schedule", 1000.0, back, 2, 1, 0, "route lab")]
    assert led.tube_delivered.tolist() == [back] * 2
