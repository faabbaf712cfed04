"""Route controllers on hand-made tube stocks: when vehicles set out, what they take, when they deliver."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

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
) -> Ledger:
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
        _Travel(times), Buffered(lambda r, n: np.zeros(n), None, 60.0), pickups, [], ledger, {},
    )  # fmt: skip
    engine.run(100_000)
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
