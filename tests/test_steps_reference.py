"""natsim's lab (``sim.model.lab``) runs a lab's own ``steps:`` sharing ``pools:`` as a lab
written apart from it does (``tests/reference_steps.py``), on the same deliveries and
streams.

The random labs list 0-2 bag steps, the tube step and 1-4 plate steps (one of them the
PCR), on 1-4 pools of staff or instruments (1-4 units each) that the steps share at
random, each step taking 1-2 units of each pool it needs (mostly one to three); batches of 1-4 items with
random ``min``, ``wait`` and ``tick``; plate steps that ``combine`` their batch;
fixed durations on a one-minute grid (ties everywhere) or random ones; a lab opening
late now and then; calendar entries on the pools in about half the cases. One or two
labs a case (two share the list of step names, as a scenario's labs must, each with
its own pools, needs, batches and times). Deliveries are made as in
``tests/test_lab_reference.py``: each by an event a "vehicle" schedules off the grid.
Every bag's and plate's start, end and server at every step, the plates' tube
ranges, the tube arrays and which plates were combined together must agree.

natsim's combined plates are seen by recording every ``Combined`` it makes (the class
is swapped, in ``sim.model.lab`` only, for a subclass that notes its plates).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
import pytest

from sim.model import lab as lab_module
from sim.model.calendars import FINISH, RESUME, PoolEntry
from sim.model.engine import Engine
from sim.model.lab import Labs
from sim.model.ledger import Combined, Ledger
from sim.random import Streams
from sim.scenario.schema import Lab
from sim.stages import STAGES

from .reference_steps import RefBag, ReferenceStepLabs, RefPlate
from .test_lab_reference import ALL, GRID, Delivery, _duration, _ledger, random_case

ATOL = 1e-9  # seconds
Entries = list[dict[str, list[PoolEntry]]]  # per lab: pool name -> its calendar entries


@dataclass(frozen=True)
class Case:
    labs: list[Lab]
    deliveries: list[Delivery]
    n_tubes: int
    horizon: float
    entries: Entries | None


@dataclass
class History:
    """What a lab model did: one row a bag and a plate, the plates' tube ranges, the
    plates combined together (in the order the groups were made) and the tube arrays."""

    bags: np.ndarray
    plates: np.ndarray
    ranges: list[list[tuple[int, int]]]
    combined: list[tuple[int, ...]]
    ledger: Ledger


# -- running either model -----------------------------------------------------------------


@contextmanager
def _recording_combined() -> Iterator[list[tuple[int, ...]]]:
    """natsim's ``Combined`` items, as made: each one's plate ids."""
    made: list[tuple[int, ...]] = []

    class Recorded(Combined):
        __slots__ = ()

        def __init__(self, items: list[Any]) -> None:
            super().__init__(items)
            made.append(tuple(p.id for p in self.plates))

    with mock.patch.object(lab_module, "Combined", Recorded):
        yield made


def _padded(rows: list[list[float]]) -> np.ndarray:
    width = max((len(r) for r in rows), default=0)
    return np.array([r + [np.nan] * (width - len(r)) for r in rows], dtype=float).reshape(
        len(rows), width
    )


def _steps(starts: list[float], ends: list[float], servers: list[int]) -> list[float]:
    return [x for k in range(len(servers)) for x in (starts[k], ends[k], servers[k])]


def _bag_row(bag: Any) -> list[float]:
    head = [bag.id, bag.lab, bag.point, bag.lo, bag.hi, bag.delivered, bag.received]
    if isinstance(bag, RefBag):
        return head + _steps(bag.starts, bag.ends, bag.servers)
    return head + _steps(bag.times[0::2], bag.times[1::2], bag.server)


def _plate_row(plate: Any) -> list[float]:
    head = [plate.id, plate.lab, plate.tubes]
    if isinstance(plate, RefPlate):
        return head + _steps(plate.starts, plate.ends, plate.servers)
    return head + _steps(plate.times[0::2], plate.times[1::2], plate.server)


def run(model: str, case: Case, seed: int = 0) -> History:
    """Feed the case's deliveries to its labs, natsim's (``"natsim"``) or the reference's,
    in one run to the case's horizon."""
    engine = Engine()
    ledger = _ledger(case.n_tubes)
    streams = Streams(seed, 0)
    with _recording_combined() as made:
        labs: Any = (
            Labs(engine, case.labs, 0.0, ledger, streams, case.entries)
            if model == "natsim"
            else ReferenceStepLabs(engine, case.labs, 0.0, ledger, streams, case.entries)
        )
        env = engine.env

        def leave(d: Delivery) -> None:
            def hand_over(_: Any) -> None:
                labs[d.lab].deliver(list(d.bags))

            env.timeout(d.time - d.scheduled).callbacks.append(hand_over)

        for d in case.deliveries:  # each "vehicle" sets out on its last leg at d.scheduled
            env.timeout(d.scheduled, d).callbacks.append(lambda event: leave(event.value))
        engine.run(case.horizon)
    combined = made if model == "natsim" else [ids for _, ids in labs.combined]
    ledger.settle()
    return History(
        bags=_padded([_bag_row(b) for b in ledger.bags]),
        plates=_padded([_plate_row(p) for p in ledger.plates]),
        ranges=[list(p.ranges) for p in ledger.plates],
        combined=combined,
        ledger=ledger,
    )


def assert_same(fast: History, ref: History) -> None:
    """Every bag and plate row equal (times to ATOL, NaN where the other has NaN), the same
    tube ranges, plates combined together and tube arrays."""
    assert fast.bags.shape == ref.bags.shape, "bags"
    np.testing.assert_allclose(fast.bags, ref.bags, rtol=0, atol=ATOL, err_msg="bags")
    assert fast.plates.shape == ref.plates.shape, "plates"
    assert fast.ranges == ref.ranges, "plate tube ranges"
    np.testing.assert_allclose(fast.plates, ref.plates, rtol=0, atol=ATOL, err_msg="plates")
    assert fast.combined == ref.combined, "plates combined together"
    for name in ("tube_lab", "tube_bag", "tube_plate"):
        np.testing.assert_array_equal(
            getattr(fast.ledger, name), getattr(ref.ledger, name), err_msg=name
        )
    np.testing.assert_allclose(
        fast.ledger.tube_received, ref.ledger.tube_received, rtol=0, atol=ATOL
    )


def both(case: Case, seed: int = 0) -> tuple[History, History]:
    return run("natsim", case, seed), run("reference", case, seed)


# -- random labs with their own steps -------------------------------------------------------

Shape = list[tuple[str, str, bool]]  # the steps' names, what each works on, the PCR


def random_shape(rng: np.random.Generator) -> Shape:
    bags = [(f"bag{i}", "bag", False) for i in range(int(rng.integers(0, 3)))]
    n_plates = int(rng.integers(1, 5))
    pcr = int(rng.integers(0, n_plates))
    plates = [(f"plate{i}", "plate", i == pcr) for i in range(n_plates)]
    return [*bags, ("load", "tube", False), *plates]


_TIMES = {"bag": (2, 12), "tube": (5, 30), "plate": (5, 45)}  # minutes: a run's range


def _batch(rng: np.random.Generator, fixed: bool) -> dict[str, Any]:
    size = int(rng.choice([1, 1, 2, 3, 4]))
    batch: dict[str, Any] = {"size": size}
    if size > 1 and rng.random() < 0.5:
        batch["min"] = int(rng.integers(2, size + 1))
        if rng.random() < 0.7:
            minutes = int(rng.choice([0, 5, 10, 20, 45]))
            batch["wait"] = f"{minutes}min" if fixed or minutes == 0 else f"{minutes * 61.7}s"
    if rng.random() < 0.25:
        batch["tick"] = str(rng.choice(["5min", "7min", "15min", "30min", "613.3s"]))
    return batch


def random_lab(rng: np.random.Generator, lab_id: str, shape: Shape) -> Lab:
    """A lab running ``shape`` on 1-4 shared pools (see the module's docstring)."""
    fixed = rng.random() < 0.6  # fixed durations on the grid: ties everywhere
    pools: dict[str, dict[str, int]] = {}
    for j in range(int(rng.integers(1, 5))):
        kind = "staff" if rng.random() < 0.5 else "instruments"
        pools[f"pool{j}"] = {kind: int(rng.integers(1, 5))}
    units = {name: next(iter(p.values())) for name, p in pools.items()}
    names = list(pools)
    steps: list[dict[str, Any]] = []
    for name, on, amplifies in shape:
        k = min(len(names), int(rng.choice([1, 1, 1, 2, 2, 3])))
        chosen = [str(p) for p in rng.choice(names, size=k, replace=False)]
        step: dict[str, Any] = {
            "name": name,
            "works_on": on,
            "needs": {p: int(rng.integers(1, min(2, units[p]) + 1)) for p in chosen},
            "duration": _duration(rng, fixed or rng.random() < 0.3, *_TIMES[on]),
        }
        if amplifies:
            step["amplifies"] = True
        if on != "tube" and rng.random() < 0.6:
            step["batch"] = _batch(rng, fixed)
            if on == "plate" and step["batch"]["size"] > 1 and rng.random() < 0.5:
                step["combine"] = True
        steps.append(step)
    for name in names:  # every pool is needed by some step
        if not any(name in s["needs"] for s in steps):
            s = steps[int(rng.integers(len(steps)))]
            s["needs"][name] = int(rng.integers(1, min(2, units[name]) + 1))
    return Lab.model_validate(
        {
            "id": lab_id,
            "opens": float(GRID * rng.integers(20, 180)) if rng.random() < 0.35 else None,
            "steps": steps,
            "pools": pools,
            "plate": {
                "wells": int(rng.choice([4, 8, 12, 96])),
                "controls": int(rng.integers(0, 3)),
            },
            "partial_plate_after": f"{int(rng.choice([5, 10, 15, 25]))}min",
        }
    )


def random_deliveries(
    rng: np.random.Generator, lab_ids: list[str]
) -> tuple[list[Delivery], int, float]:
    """Deliveries on a five-minute grid, each made by a leg starting half a minute off it
    (as ``test_lab_reference.random_case``); the tubes they hold; the horizon."""
    deliveries = []
    tube = 0
    step = 5 * GRID
    for _ in range(int(rng.integers(3, 50))):
        time = step * float(rng.integers(2, 72))
        leg = step * float(rng.integers(0, 8)) + GRID / 2
        bags = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(1, 12))
            bags.append((tube, tube + n, int(rng.integers(0, 5))))
            tube += n
        lab = lab_ids[int(rng.integers(len(lab_ids)))]
        deliveries.append(Delivery(max(time - leg, 0.0), time, lab, bags))
    deliveries.sort(key=lambda d: d.time)
    last = max(d.time for d in deliveries)
    horizon = last + step * float(rng.integers(1, 40)) if rng.random() < 0.4 else 1e6
    return deliveries, tube, horizon


def random_pool_outages(seed: int, labs: list[Lab], last: float) -> Entries | None:
    """Half the time, up to three entries per lab and pool, on the grid (as
    ``test_lab_reference.random_outages``, by pool): overlapping, of busy and idle
    units, either rule, now and then every unit; some from the lab's opening, some
    starting as another of the same pool ends."""
    rng = np.random.default_rng([seed, 1])
    if rng.random() < 0.5:
        return None
    span = int(last // GRID) + 60
    out: Entries = []
    for lab in labs:
        rows: dict[str, list[PoolEntry]] = {}
        for name, pool in lab.process.pools.items():
            entries: list[PoolEntry] = []
            for _ in range(int(rng.integers(0, 4))):
                start = GRID * float(rng.integers(0, span))
                end = start + GRID * float(rng.integers(5, 240))
                n = ALL if rng.random() < 0.1 else int(rng.integers(1, pool.units + 2))
                entries.append(PoolEntry(start, end, n, FINISH if rng.random() < 0.5 else RESUME))
            if lab.opens is not None and rng.random() < 0.3:
                length = GRID * float(rng.integers(5, 120))
                entries.append(PoolEntry(lab.opens, lab.opens + length, 1, FINISH))
            if entries and rng.random() < 0.3:
                first = entries[0]
                entries.append(PoolEntry(first.end, first.end + 1800.0, first.units, RESUME))
            if entries:
                rows[name] = entries
        # one pool's entry starting as another pool's ends: a step needing both must not
        # take the unit going out with the one coming back
        ends = [e.end for es in rows.values() for e in es]
        if ends and len(lab.process.pools) > 1 and rng.random() < 0.5:
            name = str(rng.choice(list(lab.process.pools)))
            at = float(rng.choice(ends))
            rule = FINISH if rng.random() < 0.5 else RESUME
            rows.setdefault(name, []).append(PoolEntry(at, at + GRID * 30, 1, rule))
        # the whole lab closed for a while (``what: lab``): every pool comes back at once, in
        # pool order, with work queued at every step
        if rng.random() < 0.4:
            start = GRID * float(rng.integers(0, span))
            end = start + GRID * float(rng.integers(10, 180))
            rule = FINISH if rng.random() < 0.5 else RESUME
            for name in lab.process.pools:
                rows.setdefault(name, []).append(PoolEntry(start, end, ALL, rule))
        out.append(rows)
    return out


def random_steps_case(seed: int) -> Case:
    rng = np.random.default_rng([seed, 7])
    shape = random_shape(rng)
    ids = ["L0", "L1"][: int(rng.choice([1, 1, 2]))]
    labs = [random_lab(rng, lab_id, shape) for lab_id in ids]
    deliveries, n_tubes, horizon = random_deliveries(rng, ids)
    entries = random_pool_outages(seed, labs, max(d.time for d in deliveries))
    return Case(labs, deliveries, n_tubes, horizon, entries)


N_RANDOM = 400


@pytest.mark.parametrize("seed", range(N_RANDOM))
def test_random_steps_match_reference(seed: int) -> None:
    case = random_steps_case(seed)
    assert_same(*both(case, seed))


# -- the default stages ---------------------------------------------------------------------


def _default_case(seed: int) -> Case:
    labs, deliveries, n_tubes, horizon, entries = random_case(seed)
    return Case(labs, deliveries, n_tubes, horizon, entries)


def written_out(lab: Lab) -> Lab:
    """``lab`` (with the default stages) with its five stages written as ``steps:``, each on
    a pool of its own named as the stage, with the stage's units, times and batch."""
    steps: list[dict[str, Any]] = []
    for st in STAGES:
        step: dict[str, Any] = {
            "name": st.name,
            "works_on": "tube" if st.forms_plates else st.unit,
            "needs": {st.name: 1},
            "duration": st.run_time(lab),
        }
        if st.batch is not None:
            step["batch"] = {"size": st.per_run(lab)}
        if st.amplifies:
            step["amplifies"] = True
        steps.append(step)
    return Lab.model_validate(
        {
            "id": lab.id,
            "opens": lab.opens,
            "steps": steps,
            "pools": {st.name: {st.servers: st.units(lab)} for st in STAGES},
            "plate": {"wells": lab.pcr.wells, "controls": lab.pcr.controls},
            "partial_plate_after": f"{lab.partial_plate_after}s",
        }
    )


@pytest.mark.parametrize("seed", range(40))
def test_default_stages_written_as_steps_give_the_same_records(seed: int) -> None:
    """A lab whose steps are the five default stages (a pool each) keeps the records of the
    same lab without ``steps:``, in natsim and in the reference."""
    case = _default_case(seed)
    steps = Case(
        [written_out(lab) for lab in case.labs],
        case.deliveries,
        case.n_tubes,
        case.horizon,
        case.entries,
    )
    assert [s.name for s in steps.labs[0].process.steps] == [st.name for st in STAGES]
    default = run("natsim", case, seed)
    assert_same(default, run("natsim", steps, seed))
    assert_same(default, run("reference", steps, seed))
    assert_same(default, run("reference", case, seed))


# -- the random cases exercise the rules ----------------------------------------------------


def _runs_of(history: History, labs: list[Lab]) -> dict[tuple[int, str], list[list[Any]]]:
    """Every run in natsim's records: (lab, step) -> [start, end, server, items, joined of
    the last item to join]; a combined item counted once."""
    runs: dict[tuple[int, str, float, int], list[Any]] = {}
    led = history.ledger
    kinds: tuple[tuple[list[Any], str], ...] = ((led.bags, "bag"), (led.plates, "plate"))
    for records, kind in kinds:
        for r in records:
            steps = [
                s for s in labs[r.lab].process.steps if (s.works_on == "bag") == (kind == "bag")
            ]
            for i, spec in enumerate(steps):
                if r.server[i] < 0:
                    continue
                joined = r.delivered if kind == "bag" and i == 0 else r.times[2 * i - 1]
                key = (r.lab, spec.name, r.times[2 * i], r.server[i])
                run_ = runs.setdefault(
                    key, [r.times[2 * i], r.times[2 * i + 1], r.server[i], set(), joined]
                )
                run_[3].add(r.id)
                run_[4] = max(run_[4], joined)
    out: dict[tuple[int, str], list[list[Any]]] = {}
    for (lab, name, _, _), run_ in runs.items():
        out.setdefault((lab, name), []).append(run_)
    return out


def test_random_cases_cover_the_rules() -> None:
    """The random cases do exercise what the rules are about: plates combined, batches run
    short once ``wait`` is up, runs held for a tick, steps needing several pools, runs
    stretched by ``resume``, late openings, the horizon, two labs, labs without bag steps."""
    seen = dict.fromkeys(
        [
            *("combined", "short batch", "held for a tick", "several pools", "stretched"),
            *("late", "cut", "two labs", "no bag step", "outages"),
        ],
        0,
    )
    for seed in range(0, N_RANDOM, 2):
        case = random_steps_case(seed)
        history = run("natsim", case, seed)
        runs = _runs_of(history, case.labs)
        seen["combined"] += any(len(group) > 1 for group in history.combined)
        seen["late"] += any(lab.opens is not None for lab in case.labs)
        seen["cut"] += case.horizon < 1e6
        seen["two labs"] += len(case.labs) > 1
        seen["no bag step"] += not any(s.works_on == "bag" for s in case.labs[0].process.steps)
        seen["outages"] += case.entries is not None
        seen_here: set[str] = set()
        for k, lab in enumerate(case.labs):
            for spec in lab.process.steps:
                if len(spec.needs) > 1 and runs.get((k, spec.name)):
                    seen_here.add("several pools")
                for start, end, _, items, joined in runs.get((k, spec.name), []):
                    # fewer plates than ``min`` (a combined item is several plates: never
                    # fewer items than plates)
                    if spec.batch.min > 1 and len(items) < spec.batch.min:
                        seen_here.add("short batch")
                    # started after its last item joined (for a tick, or for its units)
                    if spec.batch.tick is not None and start > joined + 1:
                        seen_here.add("held for a tick")
                    fixed = spec.duration.is_fixed
                    if fixed and end - start > float(spec.duration.mean) + ATOL:
                        seen_here.add("stretched")
        for kind in seen_here:
            seen[kind] += 1
    assert all(n >= 5 for n in seen.values()), seen


# -- by hand: small labs where a rule decides, natsim and the reference agreeing -------------


def _hand(
    lab: dict[str, Any], bags: list[tuple[float, int]], entries: Entries | None = None
) -> Ledger:
    """Lab L (plates of 4 tubes, a part-full plate after 2 h) with ``lab``'s steps, pools and
    opening; bags of the given sizes delivered at the given seconds; natsim's ledger, once
    the reference has agreed with it."""
    spec = Lab.model_validate(
        {"id": "L", "plate": {"wells": 4, "controls": 0}, "partial_plate_after": "2h", **lab}
    )
    deliveries, lo = [], 0
    for t, size in bags:
        deliveries.append(Delivery(max(t - 30.0, 0.0), t, "L", [(lo, lo + size, 0)]))
        lo += size
    fast, ref = both(Case([spec], deliveries, lo, 1e6, entries))
    assert_same(fast, ref)
    return fast.ledger


def _times(ledger: Ledger) -> list[list[float]]:
    return [[*p.times, *p.server] for p in ledger.plates]


def _step(name: str, on: str, needs: dict[str, int], minutes: int, **more: Any) -> dict[str, Any]:
    return {"name": name, "works_on": on, "needs": needs, "duration": f"{minutes}min", **more}


def test_at_a_reopening_the_tube_steps_pool_comes_back_last() -> None:
    """Every pool out (finish) 600-1800. Loaders (2) for the tube step, a robot extracting
    two plates a run, a cycler; 10 min each. Plate 0 (bag of 4 at 0) is loaded 0-600 and
    waits for the robot; a bag of 8 comes at 900.

    At 1800 the pools come back in pool order, the tube step's last: the robot takes
    plate 0 (1800-2400) before the loaders form plates 1 and 2 (1800-2400). At 2400 the
    extraction ends first (plate 0 to PCR, the robot idle: nothing queued), then plate 1
    arrives and is extracted alone, 2400-3000; plate 2 waits, 3000-3600. With the
    loaders' pool first, plates 1 and 2 would wait together and go in one run.
    """
    lab = {
        "steps": [
            _step("load", "tube", {"loaders": 1}, 10),
            _step("extract", "plate", {"robot": 1}, 10, batch={"size": 2}),
            _step("pcr", "plate", {"cycler": 1}, 10, amplifies=True),
        ],
        "pools": {
            "loaders": {"staff": 2},
            "robot": {"instruments": 1},
            "cycler": {"instruments": 1},
        },
    }
    closed = [
        {name: [PoolEntry(600.0, 1800.0, ALL, FINISH)] for name in ("loaders", "robot", "cycler")}
    ]
    led = _hand(lab, [(0.0, 4), (900.0, 8)], closed)
    assert _times(led) == [
        [0.0, 600.0, 1800.0, 2400.0, 2400.0, 3000.0, 0, 0, 0],
        [1800.0, 2400.0, 2400.0, 3000.0, 3000.0, 3600.0, 0, 0, 0],
        [1800.0, 2400.0, 3000.0, 3600.0, 3600.0, 4200.0, 1, 0, 0],
    ]


def test_a_pool_coming_back_as_another_goes_out_is_offered_after_both_change() -> None:
    """The tube step needs a technician and a reader; PCR the technician, the report the
    reader; 10 min each. Technicians out 0-1200, the reader out 1200-2400 (finish). A bag
    of 4 at 60 waits. At 1200 both changes apply before the technician is offered work:
    the reader is already out, so the plate is loaded only when it is back, 2400-3000;
    PCR 3000-3600, report 3600-4200. (Offered at once, the technician would have taken
    the reader before it went out and loaded the plate 1200-1800.)"""
    lab = {
        "steps": [
            _step("load", "tube", {"tech": 1, "reader": 1}, 10),
            _step("pcr", "plate", {"tech": 1}, 10, amplifies=True),
            _step("report", "plate", {"reader": 1}, 10),
        ],
        "pools": {"tech": {"staff": 1}, "reader": {"instruments": 1}},
    }
    entries = [
        {
            "tech": [PoolEntry(0.0, 1200.0, ALL, FINISH)],
            "reader": [PoolEntry(1200.0, 2400.0, 1, FINISH)],
        }
    ]
    led = _hand(lab, [(60.0, 4)], entries)
    assert _times(led) == [[2400.0, 3000.0, 3000.0, 3600.0, 3600.0, 4200.0, 0, 0, 0]]


def test_a_run_stopped_by_two_pools_carries_on_when_both_are_back() -> None:
    """Loading takes a technician and a robot, 30 min; a bag of 4 at 0 is loaded from 0.
    The technician is out 600-1200 and the robot 900-3000, both ``resume``: the run stops
    at 600 with 1200 s to go; the technician's return at 1200 does not restart it (it
    would end at 2400, with the robot out), the robot's at 3000 does: loaded at 4200;
    PCR (10 min, the robot) 4200-4800."""
    lab = {
        "steps": [
            _step("load", "tube", {"tech": 1, "robot": 1}, 30),
            _step("pcr", "plate", {"robot": 1}, 10, amplifies=True),
        ],
        "pools": {"tech": {"staff": 1}, "robot": {"instruments": 1}},
    }
    entries = [
        {
            "tech": [PoolEntry(600.0, 1200.0, 1, RESUME)],
            "robot": [PoolEntry(900.0, 3000.0, 1, RESUME)],
        }
    ]
    led = _hand(lab, [(0.0, 4)], entries)
    assert _times(led) == [[0.0, 4200.0, 4200.0, 4800.0, 0, 0]]


def test_ticks_count_from_the_opening() -> None:
    """The lab opens at 600; PCR starts runs on a 15-min tick from then (600, 1500, 2400 ...).
    A bag of 4 delivered at 0 is loaded 600-900 (5 min); PCR waits for the tick at 1500,
    1500-3300 (30 min). A second plate (a bag at 1200, loaded 1200-1500) joins at 1500,
    after the tick's timer started plate 0 (set at 900, it rings first): it waits for the
    cycler, free at 3300, itself a tick (600 + 3 x 900): 3300-5100. Counted from 0, the
    ticks would be 900, 1800 ...: plate 0 would start at 900."""
    lab = {
        "opens": 600.0,
        "steps": [
            _step("load", "tube", {"staff": 1}, 5),
            _step("pcr", "plate", {"cycler": 1}, 30, amplifies=True, batch={"tick": "15min"}),
        ],
        "pools": {"staff": {"staff": 1}, "cycler": {"instruments": 1}},
    }
    led = _hand(lab, [(0.0, 4), (1200.0, 4)])
    assert _times(led) == [
        [600.0, 900.0, 1500.0, 3300.0, 0, 0],
        [1200.0, 1500.0, 3300.0, 5100.0, 0, 0],
    ]
