"""natsim's lab (``sim.model.lab``) and a lab written apart from it agree on the same
deliveries and streams.

Both are fed, inside a SimPy run, by the same deliveries: each is made by an
event that a "vehicle" schedules at a given moment (its last leg) and that
delivers when it is due, as transport does. The reference (``tests/reference_lab.py``)
is a plain callback-driven SimPy lab with its own records. Every bag, tube array
and plate field must agree (floats to 1e-9 s). Fixed durations on a one-minute
grid make simultaneous events common: deliveries at the same instant as
receipts, loads and runs ending, batches filling and partial-plate timers
ringing. Vehicle legs end on the grid but start half a minute off it, so no
delivery is scheduled at the very instant a lab event is (the one order the
two models need not share: which of two events scheduled at the same moment
was asked for first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim
from sim.model import world
from sim.model.engine import Engine
from sim.model.lab import Labs
from sim.model.ledger import Bag, Ledger, Plate
from sim.random import Streams
from sim.scenario.schema import Lab
from sim.stages import BAG_STAGES, PLATE_STAGES

from .conftest import HAND_ROUND, SCENARIOS
from .reference_lab import RefBag, ReferenceLabs, RefPlate

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
    """Feed ``deliveries`` to ``labs`` (natsim's or the reference) in one run to ``horizon``."""
    engine = Engine()
    ledger = _ledger(n_tubes)
    model_labs = model(engine, labs, 0.0, ledger, Streams(seed, 0))
    env = engine.env

    def leave(d: Delivery) -> None:
        env.timeout(d.time - d.scheduled).callbacks.append(
            lambda _: model_labs[d.lab].deliver(list(d.bags))
        )

    for d in deliveries:  # each "vehicle" sets out on its last leg at d.scheduled
        env.timeout(d.scheduled).callbacks.append(lambda _, d=d: leave(d))
    engine.run(horizon)
    return ledger


# the fields compared, as (reference attribute, natsim stage and which end) -- natsim keeps
# a stage's start, end and server by the stage's place in the registry
def _bag_row(bag: Bag | RefBag) -> list[float]:
    head = [bag.id, bag.lab, bag.point, bag.lo, bag.hi, bag.delivered]
    if isinstance(bag, RefBag):
        return [*head, bag.receive_start, bag.received, bag.staff]
    assert len(BAG_STAGES) == 1
    return [*head, bag.times[0], bag.times[1], bag.server[0]]


_PLATE_FIELDS = [
    ("formed", "loaded", "loader"),
    ("extraction_start", "extraction_end", "extraction_instrument"),
    ("pcr_start", "pcr_end", "pcr_instrument"),
    ("report_start", "reported", None),
]


def _plate_row(plate: Plate | RefPlate) -> list[float]:
    row: list[float] = [plate.id, plate.lab, plate.tubes]
    if isinstance(plate, RefPlate):
        for start, end, server in _PLATE_FIELDS:
            row += [getattr(plate, start), getattr(plate, end)]
            row += [getattr(plate, server) if server else -1]
        return row
    assert [st.start for st in PLATE_STAGES] == [f[0] for f in _PLATE_FIELDS]
    for k, (_, _, server) in enumerate(_PLATE_FIELDS):
        row += [plate.times[2 * k], plate.times[2 * k + 1], plate.server[k] if server else -1]
    return row


def assert_same_ledger(fast: Ledger, ref: Ledger) -> None:
    """Every bag, tube and plate field equal (times to ATOL, NaN where the other has NaN)."""
    assert len(fast.bags) == len(ref.bags)
    np.testing.assert_allclose(
        np.array([_bag_row(b) for b in fast.bags], dtype=float).reshape(-1, 9),
        np.array([_bag_row(b) for b in ref.bags], dtype=float).reshape(-1, 9),
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
        np.array([_plate_row(p) for p in fast.plates], dtype=float).reshape(-1, 15),
        np.array([_plate_row(p) for p in ref.plates], dtype=float).reshape(-1, 15),
        rtol=0,
        atol=ATOL,
        err_msg="plates",
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
        extraction_starts = [p.times[2] for p in fast.plates]
        seen["batch"] += len(extraction_starts) > len(set(extraction_starts))
        lab_times = {p.formed for p in fast.plates} | {b.times[1] for b in fast.bags}
        seen["tie"] += any(d.time in lab_times for d in deliveries)
        seen["late"] += any(lab.opens is not None for lab in labs)
        seen["partial"] += any(p.tubes < labs[p.lab].pcr.samples_per_plate for p in fast.plates)
        seen["cut"] += horizon < 1e6
        seen["unfinished_run"] += any(
            np.isfinite(p.times[4]) and np.isnan(p.times[5]) for p in fast.plates
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


def test_a_wrong_draw_order_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durations taken from a stream other than the stage's own are caught."""
    from sim.model import lab as lab_module

    right = lab_module.durations

    def shuffled(dist: Any, rng: np.random.Generator) -> Any:
        return right(dist, np.random.default_rng(0))

    monkeypatch.setattr(lab_module, "durations", shuffled)
    failures = sum(not _same(*_both(random_case(seed), seed)) for seed in range(40))
    assert failures > 0


def _same(fast: Ledger, ref: Ledger) -> bool:
    try:
        assert_same_ledger(fast, ref)
    except AssertionError:
        return False
    return True


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


def test_labs_schedule_one_event_per_run() -> None:
    """A lab schedules a SimPy event per run (a bag's receipt; a plate's load, PCR and report;
    an extraction run) and per partial-plate timer: events per bag and plate, never per tube."""
    scenario = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    rep = world.run_replication(scenario)
    bags, plates, tubes = len(rep.ledger.bags), len(rep.ledger.plates), rep.ledger.n_tubes
    runs = bags + 3 * plates + len({(p.lab, p.server[1], p.times[2]) for p in rep.ledger.plates})
    trips = len(rep.ledger.trips)
    assert runs <= rep.wall["events"] < runs + 10 * trips + 2 * plates
    assert rep.wall["events"] < tubes
