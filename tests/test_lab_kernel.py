"""The compiled lab kernel and the SimPy lab it replaced agree on the same deliveries and streams.

Both are fed, inside a SimPy run, by the same deliveries: each is made by a
process that schedules the last leg of a "vehicle" at a given moment and
delivers when it ends, as transport does. The reference (``tests/reference_lab.py``)
processes the lab in SimPy; the kernel records the deliveries and computes the
lab after the run. Every bag row, tube array and plate field must agree (floats
to 1e-9 s). Fixed durations on a one-minute grid make simultaneous events common:
deliveries at the same instant as receipts, loads and runs ending, batches
filling and partial-plate timers ringing. Vehicle legs end on the grid but start
half a minute off it, so no delivery is scheduled at the very instant a lab
event is (the one order neither model states; see ``sim.model.lab``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simpy

import sim
from sim.model import lab as lab_module
from sim.model import world
from sim.model.lab import Labs, stage_durations
from sim.model.ledger import Ledger, Plate
from sim.random import Streams
from sim.scenario.schema import Lab

from .conftest import HAND_ROUND, SCENARIOS
from .reference_lab import ReferenceLabs

ATOL = 1e-9  # seconds
GRID = 60.0


@dataclass(frozen=True)
class Delivery:
    scheduled: float  # when the vehicle's last leg was scheduled
    time: float  # when it delivers
    lab: str
    bags: list[tuple[int, int, int]]  # tube lo, hi, point


def _ledger(n_tubes: int) -> Ledger:
    return Ledger(
        n_tubes=n_tubes,
        tube_point=np.zeros(n_tubes, np.int32),
        tube_station=np.zeros(n_tubes, np.int32),
        tube_size=np.ones(n_tubes, np.int32),
        tube_first=np.zeros(n_tubes),
        tube_last=np.zeros(n_tubes),
        tube_sealed=np.zeros(n_tubes),
    )


def run_lab_model(
    model: type[Labs] | type[ReferenceLabs],
    labs: list[Lab],
    deliveries: list[Delivery],
    n_tubes: int,
    horizon: float,
    seed: int,
) -> Ledger:
    """Feed ``deliveries`` to ``labs`` (kernel or reference) in a SimPy run to ``horizon``."""
    env = simpy.Environment()
    ledger = _ledger(n_tubes)
    model_labs = model(env, labs, 0.0, ledger, Streams(seed, 0))

    def vehicle(d: Delivery) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(d.scheduled)
        yield env.timeout(d.time - d.scheduled)
        model_labs[d.lab].deliver(list(d.bags), d.scheduled)

    for d in deliveries:
        env.process(vehicle(d))
    env.run(until=horizon)
    model_labs.finish(horizon)
    return ledger


def _plate_table(plates: list[Plate]) -> np.ndarray:
    names = [f.name for f in fields(Plate) if f.name != "ranges"]
    return np.array([[float(getattr(p, n)) for n in names] for p in plates]).reshape(-1, len(names))


def assert_same_ledger(fast: Ledger, ref: Ledger) -> None:
    """Every bag, tube and plate field equal (times to ATOL, NaN where the other has NaN)."""
    assert len(fast.bags) == len(ref.bags)
    np.testing.assert_allclose(
        np.array(fast.bags, dtype=float).reshape(-1, 9),
        np.array(ref.bags, dtype=float).reshape(-1, 9),
        rtol=0,
        atol=ATOL,
        err_msg="bags",
    )
    for name in ("tube_lab", "tube_bag", "tube_plate"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(ref, name), err_msg=name)
    np.testing.assert_allclose(fast.tube_received, ref.tube_received, rtol=0, atol=ATOL)
    assert len(fast.plates) == len(ref.plates)
    assert [p.ranges for p in fast.plates] == [p.ranges for p in ref.plates]
    np.testing.assert_allclose(
        _plate_table(fast.plates), _plate_table(ref.plates), rtol=0, atol=ATOL, err_msg="plates"
    )


def _duration(rng: np.random.Generator, fixed: bool, low_min: int, high_min: int) -> Any:
    if fixed:  # a few round values shared by the stages: their events coincide
        return f"{int(rng.choice([5, 10, 10, 15, high_min]))}min"
    mean = float(rng.uniform(low_min, high_min)) * 60
    kind = rng.choice(["lognormal", "uniform", "exponential", "empirical", "gamma"])
    if kind == "lognormal" or kind == "gamma":
        return {"dist": str(kind), "mean": f"{mean}s", "sd": f"{mean / 3}s"}
    if kind == "uniform":
        return {"dist": "uniform", "low": f"{mean / 2}s", "high": f"{1.5 * mean}s"}
    if kind == "exponential":
        return {"dist": "exponential", "mean": f"{mean}s"}
    # a few values on the grid, drawn from the stage's stream: ties again
    return {"dist": "empirical", "values": [f"{GRID * m}s" for m in (low_min, high_min, 10)]}


def random_case(seed: int) -> tuple[list[Lab], list[Delivery], int, float]:
    """Labs with few, small resources and deliveries on a five-minute grid."""
    rng = np.random.default_rng(seed)
    fixed = rng.random() < 0.6  # fixed durations on the grid: ties everywhere
    labs = []
    for k in range(int(rng.integers(1, 4))):
        labs.append(
            Lab.model_validate(
                {
                    "id": f"L{k}",
                    "opens": float(GRID * rng.integers(20, 180)) if rng.random() < 0.4 else None,
                    "receiving": {
                        "staff": int(rng.integers(1, 4)),
                        "per_bag": _duration(rng, fixed or rng.random() < 0.3, 2, 12),
                    },
                    "loading": {
                        "staff": int(rng.integers(1, 3)),
                        "per_plate": _duration(rng, fixed or rng.random() < 0.3, 5, 30),
                    },
                    "extraction": {
                        "instruments": int(rng.integers(1, 3)),
                        "plates_per_run": int(rng.choice([1, 1, 2, 3])),
                        "run": _duration(rng, fixed or rng.random() < 0.3, 10, 30),
                    },
                    "pcr": {
                        "instruments": int(rng.integers(1, 4)),
                        "wells": int(rng.choice([4, 8, 12, 96])),
                        "controls": int(rng.integers(0, 3)),
                        "run": _duration(rng, fixed or rng.random() < 0.3, 20, 75),
                    },
                    "report": {
                        "staff": int(rng.integers(1, 3)),
                        "per_plate": _duration(rng, fixed or rng.random() < 0.3, 2, 12),
                    },
                    "partial_plate_after": f"{int(rng.choice([5, 10, 15, 25]))}min",
                }
            )
        )
    deliveries = []
    tube = 0
    step = 5 * GRID
    for _ in range(int(rng.integers(3, 60))):
        time = step * float(rng.integers(2, 72))
        leg = step * float(rng.integers(0, 8)) + GRID / 2  # starts off the grid
        bags = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(1, 12))
            bags.append((tube, tube + n, int(rng.integers(0, 5))))
            tube += n
        deliveries.append(Delivery(max(time - leg, 0.0), time, f"L{rng.integers(len(labs))}", bags))
    deliveries.sort(key=lambda d: d.time)
    last = max(d.time for d in deliveries)
    # the horizon cuts the round short about half the time (on the grid: runs end there too)
    horizon = last + step * float(rng.integers(1, 40)) if rng.random() < 0.5 else 1e6
    return labs, deliveries, tube, horizon


def _both(case: tuple[list[Lab], list[Delivery], int, float], seed: int) -> tuple[Ledger, Ledger]:
    return (
        run_lab_model(Labs, *case, seed=seed),
        run_lab_model(ReferenceLabs, *case, seed=seed),
    )


@pytest.mark.parametrize("seed", range(120))
def test_random_labs_match_reference(seed: int) -> None:
    fast, ref = _both(random_case(seed), seed)
    assert_same_ledger(fast, ref)


def test_random_cases_cover_the_rules() -> None:
    """The random cases do exercise ties, batches, late openings, partial plates, the horizon."""
    seen = {"batch": 0, "tie": 0, "late": 0, "partial": 0, "cut": 0, "unfinished_run": 0}
    for seed in range(120):
        case = random_case(seed)
        labs, deliveries, _, horizon = case
        fast = run_lab_model(Labs, *case, seed=seed)
        extraction_starts = [p.extraction_start for p in fast.plates]
        seen["batch"] += len(extraction_starts) > len(set(extraction_starts))
        lab_times = {p.formed for p in fast.plates} | {b[7] for b in fast.bags}
        seen["tie"] += any(d.time in lab_times for d in deliveries)
        seen["late"] += any(lab.opens is not None for lab in labs)
        seen["partial"] += any(p.tubes < labs[p.lab].pcr.samples_per_plate for p in fast.plates)
        seen["cut"] += horizon < 1e6
        seen["unfinished_run"] += any(
            np.isfinite(p.pcr_start) and np.isnan(p.pcr_end) for p in fast.plates
        )
    assert all(n >= 5 for n in seen.values()), seen


def _tie_case(leg: float) -> tuple[list[Lab], list[Delivery], int, float]:
    """Plates of 4 tubes, overdue after 5 min; three receivers and one loader, 10 min each.

    Bags A (4 tubes) and B (1 tube) are delivered at 600 and received 600-1200.
    At 1200 A makes a full plate, loaded 1200-1800; B's tube waits and is overdue
    from 1500. Bag C (1 tube) is delivered at 1200 by a leg of ``leg`` seconds and
    received 1200-1800. At 1800 the load and C's receipt end together; SimPy
    takes first the one scheduled first, which is C's receipt exactly when the
    delivery's leg was scheduled before A's receipt was (at 600). Receipt first:
    the free loader takes B and C (plate of 2); load first: it takes B alone.
    """
    lab = Lab.model_validate(
        {
            "id": "L",
            "receiving": {"staff": 3, "per_bag": "10min"},
            "loading": {"staff": 1, "per_plate": "10min"},
            "extraction": {"instruments": 1, "run": "10min"},
            "pcr": {"instruments": 1, "wells": 4, "controls": 0, "run": "10min"},
            "report": {"staff": 1, "per_plate": "10min"},
            "partial_plate_after": "5min",
        }
    )
    deliveries = [
        Delivery(300.0, 600.0, "L", [(0, 4, 0), (4, 5, 0)]),
        Delivery(1200.0 - leg, 1200.0, "L", [(5, 6, 0)]),
    ]
    return [lab], deliveries, 6, 1e6


@pytest.mark.parametrize(("leg", "second_plate"), [(300.0, 1), (900.0, 2)])
def test_delivery_at_the_instant_of_a_lab_event(leg: float, second_plate: int) -> None:
    fast, ref = _both(_tie_case(leg), 0)
    assert_same_ledger(fast, ref)
    assert fast.plates[1].formed == 1800.0
    assert fast.plates[1].tubes == second_plate


def _deliver_as_if_scheduled_at(wrong: float) -> Callable[..., None]:
    """``Labs.deliver`` told a wrong scheduling instant (-inf: before every lab event due
    at the same instant; inf: after all of them)."""
    right = Labs.deliver

    def deliver(self: Labs, lab: int, bags: list[Any], scheduled: float) -> None:
        right(self, lab, bags, wrong)

    return deliver


def test_a_wrong_tie_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ordering deliveries before (or after) every lab event due at the same instant, instead
    of by when they were scheduled, gives different plates on some random cases."""
    for wrong in (-np.inf, np.inf):
        monkeypatch.setattr(Labs, "deliver", _deliver_as_if_scheduled_at(wrong))
        failures = 0
        for seed in range(120):
            fast, ref = _both(random_case(seed), seed)
            try:
                assert_same_ledger(fast, ref)
            except AssertionError:
                failures += 1
        assert failures > 0, wrong


def test_a_wrong_draw_order_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durations taken from a stream other than the stage's own are caught."""

    def shuffled(dist: Any, streams: Streams, name: str, n: int) -> np.ndarray:
        return stage_durations(dist, streams, name.replace("pcr", "loading"), n)

    monkeypatch.setattr(lab_module, "stage_durations", shuffled)
    failures = sum(not _same(*_both(random_case(seed), seed)) for seed in range(40))
    assert failures > 0


def _same(fast: Ledger, ref: Ledger) -> bool:
    try:
        assert_same_ledger(fast, ref)
    except AssertionError:
        return False
    return True


def test_draws_match_the_blocks_the_simpy_lab_used() -> None:
    """One block of n values from a stream equals n values drawn 256 at a time."""
    from sim.model.draws import durations

    streams = Streams(3, 1)
    for spec in (
        {"dist": "lognormal", "mean": "10min", "sd": "3min"},
        {"dist": "gamma", "mean": "10min", "sd": "3min"},
        {"dist": "triangular", "low": "1min", "mode": "2min", "high": "9min"},
        {"dist": "empirical", "values": ["1min", "2min", "3min"], "weights": [1, 2, 3]},
        "75min",
    ):
        dist = Lab.model_validate({"id": "L", "pcr": {"run": spec}}).pcr.run
        one_by_one = durations(dist, streams["L/pcr"])
        block = stage_durations(dist, streams, "L/pcr", 700)
        np.testing.assert_array_equal(block, [one_by_one() for _ in range(700)])


# -- whole replications: the real transport delivering ------------------------------------


def _replicate(scenario: sim.Scenario, model: type[Any], monkeypatch: pytest.MonkeyPatch) -> Ledger:
    with monkeypatch.context() as m:
        m.setattr(world, "Labs", model)
        return world.run_replication(scenario).ledger


def _scenarios(write_scenario: Callable[..., Path]) -> dict[str, sim.Scenario]:
    tiny = sim.load_scenario(SCENARIOS / "tiny.yaml")
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    return {
        "hand": sim.load_scenario(write_scenario(HAND_ROUND)),
        "tiny": tiny,
        "tiny, lab opens late, short horizon": tiny.with_changes(
            {
                "labs.L.opens": "08:45",
                "labs.L.extraction.plates_per_run": 2,
                "round.horizon": "4h",
                "round.targets": ["3h", "4h"],
            }
        ),
        "zhaoling cut at 9 h": zhaoling.with_changes(
            {"round.horizon": "9h", "round.targets": ["8h", "9h"]}
        ),
        "zhaoling, every duration fixed": zhaoling.deterministic(),
    }


def test_whole_rounds_match_reference(
    write_scenario: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, scenario in _scenarios(write_scenario).items():
        fast = _replicate(scenario, Labs, monkeypatch)
        ref = _replicate(scenario, ReferenceLabs, monkeypatch)
        assert len(ref.plates) > 0, name
        try:
            assert_same_ledger(fast, ref)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error


def test_labs_schedule_no_simpy_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SimPy lab scheduled a timeout per run (a bag's receipt; a plate's load, PCR and
    report, and its share of an extraction run) and per partial-plate timer; the kernel none."""
    scenario = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    with monkeypatch.context() as m:
        m.setattr(world, "Labs", ReferenceLabs)
        ref = world.run_replication(scenario)
    fast = world.run_replication(scenario)
    bags, plates = len(fast.ledger.bags), len(fast.ledger.plates)
    assert plates > 100
    assert fast.wall["events"] <= ref.wall["events"] - bags - 3 * plates
