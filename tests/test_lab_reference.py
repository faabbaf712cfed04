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

Outages: about half the random cases give each lab and stage a few calendar
entries (``PoolEntry``: units out from start to end, ``finish`` or ``resume``),
on the grid, so they start and end at the instants runs end and deliveries
come, overlap, hit busy and idle units and run past the horizon; both models
get the same entries, some of them starting at the lab's opening or as another
entry of the same stage ends (all the changes of one instant apply before a
unit that came back takes work: ``test_an_entry_from_the_opening_keeps_its_units_out``,
``test_back_to_back_entries_keep_the_unit_out``). Hand-computed cases check the
rules themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim
from sim.model import world
from sim.model.calendars import FINISH, RESUME, PoolEntry, pool_entries
from sim.model.engine import Engine
from sim.model.lab import Labs
from sim.model.ledger import Bag, Ledger, Plate
from sim.random import Streams
from sim.scenario.schema import Lab
from sim.stages import DEFAULT, STAGES, stage

from .conftest import HAND_ROUND, SCENARIOS
from .reference_lab import RefBag, ReferenceLabs, RefPlate

BAG_STAGES, PLATE_STAGES, STAGE_NAMES = DEFAULT.bag_stages, DEFAULT.plate_stages, DEFAULT.names

ATOL = 1e-9  # seconds
GRID = 60.0
ALL = 1 << 30  # units of an entry that takes a whole stage out (as ``what: lab`` does)


@dataclass(frozen=True)
class Delivery:
    scheduled: float  # when the vehicle's last leg was scheduled
    time: float  # when it delivers
    lab: str
    bags: list[tuple[int, int, int]]  # tube lo, hi, point


Entries = list[dict[str, list[PoolEntry]]]  # per lab: stage name -> its calendar entries
Case = tuple[list[Lab], list[Delivery], int, float, Entries | None]


def _ledger(n_tubes: int) -> Ledger:
    return Ledger(
        n_tubes=n_tubes,
        tube_point=np.zeros(n_tubes, np.int32),
        tube_station=np.zeros(n_tubes, np.int32),
        tube_size=np.ones(n_tubes, np.int32),
        tube_first=np.zeros(n_tubes),
        tube_last=np.zeros(n_tubes),
        tube_sealed=np.zeros(n_tubes),
        tube_arrival=np.zeros(n_tubes),
    )


def run_lab_model(
    model: type[Labs] | type[ReferenceLabs],
    labs: list[Lab],
    deliveries: list[Delivery],
    n_tubes: int,
    horizon: float,
    entries: Entries | None = None,
    seed: int = 0,
) -> Ledger:
    """Feed ``deliveries`` to ``labs`` (natsim's or the reference) in one run to ``horizon``,
    with the labs' calendar ``entries`` (outages), if any."""
    engine = Engine()
    ledger = _ledger(n_tubes)
    model_labs = model(engine, labs, 0.0, ledger, Streams(seed, 0), entries)
    env = engine.env

    def leave(d: Delivery) -> None:
        env.timeout(d.time - d.scheduled).callbacks.append(
            lambda _: model_labs[d.lab].deliver(list(d.bags))
        )

    for d in deliveries:  # each "vehicle" sets out on its last leg at d.scheduled
        env.timeout(d.scheduled).callbacks.append(lambda _, d=d: leave(d))
    engine.run(horizon)
    ledger.settle()  # the tube arrays, from the records (as a round's tables do)
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


def random_case(seed: int) -> Case:
    """Labs with few, small resources and deliveries on a five-minute grid; in about half
    the cases, outages (:func:`random_outages`)."""
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
    return labs, deliveries, tube, horizon, random_outages(seed, labs, last)


def random_outages(seed: int, labs: list[Lab], last: float) -> Entries | None:
    """Half the time (None otherwise), up to three entries per lab and stage, on the grid.

    Drawn from a stream of their own, so the labs and deliveries of a case are the
    ones it had before outages were added. Starts fall anywhere up to an hour after
    the last delivery, lengths are 5 min to 4 h (so entries overlap and some end after
    a horizon that cuts the round short); an entry takes 1 to all-plus-one units, now
    and then every unit (``ALL``); either rule. Some entries start at the lab's
    opening or as another entry of the same stage ends: the changes of one instant
    add up before any unit that came back takes work.
    """
    rng = np.random.default_rng([seed, 1])
    if rng.random() < 0.5:
        return None
    span = int(last // GRID) + 60
    out: Entries = []
    for lab in labs:
        rows: dict[str, list[PoolEntry]] = {}
        for st in STAGES:
            units = st.units(lab)
            entries: list[PoolEntry] = []
            for _ in range(int(rng.integers(0, 4))):
                start = GRID * float(rng.integers(0, span))
                end = start + GRID * float(rng.integers(5, 240))
                n = ALL if rng.random() < 0.1 else int(rng.integers(1, units + 2))
                rule = FINISH if rng.random() < 0.5 else RESUME
                entries.append(PoolEntry(start, end, n, rule))
            # the instants where several changes fall together: an entry from the opening,
            # and one starting as another ends
            if lab.opens is not None and rng.random() < 0.3:
                length = GRID * float(rng.integers(5, 120))
                entries.append(PoolEntry(lab.opens, lab.opens + length, 1, FINISH))
            if entries and rng.random() < 0.3:
                first = entries[0]
                entries.append(PoolEntry(first.end, first.end + 1800.0, first.units, RESUME))
            if entries:
                rows[st.name] = entries
        out.append(rows)
    return out


def _both(case: Case, seed: int) -> tuple[Ledger, Ledger]:
    return (
        run_lab_model(Labs, *case, seed=seed),
        run_lab_model(ReferenceLabs, *case, seed=seed),
    )


@pytest.mark.parametrize("seed", range(120))
def test_random_labs_match_reference(seed: int) -> None:
    fast, ref = _both(random_case(seed), seed)
    assert_same_ledger(fast, ref)


def test_random_cases_cover_the_rules() -> None:
    """The random cases do exercise ties, batches, late openings, partial plates, the horizon,
    and outages: of busy units under either rule, of idle units, overlapping entries and
    entries still in force at the horizon."""
    seen = {"batch": 0, "tie": 0, "late": 0, "partial": 0, "cut": 0, "unfinished_run": 0}
    seen |= dict.fromkeys(OUTAGE_KINDS, 0)
    for seed in range(120):
        case = random_case(seed)
        labs, deliveries, _, horizon, entries = case
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
        for kind in outage_kinds(labs, entries, fast, horizon) if entries else ():
            seen[kind] += 1
    assert all(n >= 5 for n in seen.values()), seen


OUTAGE_KINDS = ("busy unit out, finish", "busy unit out, resume", "idle unit out", "overlap")
OUTAGE_KINDS += ("in force at the horizon", "run stretched by resume")


def _runs(ledger: Ledger) -> dict[tuple[int, str, int], list[tuple[float, float]]]:
    """Every run in the records: (lab, stage, unit) -> its (start, end) (end NaN: under way)."""
    runs: dict[tuple[int, str, int], list[tuple[float, float]]] = defaultdict(list)
    for items, stages in ((ledger.bags, BAG_STAGES), (ledger.plates, PLATE_STAGES)):
        for item in items:
            for k, st in enumerate(stages):
                if item.server[k] >= 0:
                    runs[item.lab, st.name, item.server[k]].append(
                        (item.times[2 * k], item.times[2 * k + 1])
                    )
    return runs


def outage_kinds(labs: list[Lab], entries: Entries, ledger: Ledger, horizon: float) -> set[str]:
    """What the entries of a case did, worked out from the rules and the records alone.

    An entry starting at t (before the horizon) takes out the units between the
    level before it and after it, the level being all units before the opening plus
    the units of the entries in force (those started before t, or at t and listed
    before it), capped at all units; the units out are the highest-numbered. A unit
    was busy when a run of it started before t and had not ended before t (calendar
    changes come first at an instant, so a run ending at t was still under way).
    A resumed run shows as one lasting longer than the stage's fixed duration.
    """
    kinds: set[str] = set()
    runs = _runs(ledger)
    for k, (lab, rows) in enumerate(zip(labs, entries, strict=True)):
        opens = 0.0 if lab.opens is None else lab.opens
        for name, stage_entries in rows.items():
            units = stage(name).units(lab)
            for i, e in enumerate(stage_entries):
                t = e.start
                if t >= horizon:
                    continue
                if e.end > horizon:
                    kinds.add("in force at the horizon")
                others = sum(
                    f.units
                    for j, f in enumerate(stage_entries)
                    if f.start < t < f.end or (f.start == t and j < i)
                )
                if others:
                    kinds.add("overlap")
                closed = units if t < opens else 0
                before, after = min(units, closed + others), min(units, closed + others + e.units)
                for unit in range(units - after, units - before):
                    busy = any(s < t and not end < t for s, end in runs[k, name, unit])
                    if not busy:
                        kinds.add("idle unit out")
                    else:
                        kinds.add(f"busy unit out, {'finish' if e.rule == FINISH else 'resume'}")
                        fixed = stage(name).run_time(lab)
                        if (
                            e.rule == RESUME
                            and fixed.is_fixed
                            and any(
                                s < t <= end and end - s > fixed.mean + ATOL
                                for s, end in runs[k, name, unit]
                            )
                        ):
                            kinds.add("run stretched by resume")
    return kinds


def _tie_case(leg: float) -> Case:
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
    return [lab], deliveries, 6, 1e6, None


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


_MISTAKES: dict[str, Callable[[PoolEntry], PoolEntry]] = {
    "rule swapped": lambda e: e._replace(rule=RESUME if e.rule == FINISH else FINISH),
    "one unit fewer": lambda e: e._replace(units=e.units - 1),
    "a minute late": lambda e: e._replace(start=e.start + GRID),
}


@pytest.mark.parametrize("mistake", list(_MISTAKES))
def test_a_wrong_outage_is_caught(mistake: str) -> None:
    """natsim's lab fed entries with one thing wrong (the rule, the units, the start) does not
    match the reference fed the right ones: the random comparison sees each of them."""
    wrong = _MISTAKES[mistake]
    failures = 0
    for seed in range(40):
        labs, deliveries, n_tubes, horizon, entries = random_case(seed)
        if entries is None:
            continue
        bad = [{k: [wrong(e) for e in rows] for k, rows in lab.items()} for lab in entries]
        fast = run_lab_model(Labs, labs, deliveries, n_tubes, horizon, bad, seed=seed)
        ref = run_lab_model(ReferenceLabs, labs, deliveries, n_tubes, horizon, entries, seed=seed)
        failures += not _same(fast, ref)
    assert failures >= 10  # of the 23 seeds with outages


# -- outages by hand ------------------------------------------------------------------------
# Small labs with fixed durations, plates of 4 tubes and bags of 3, 2 and 1 tubes. Each case
# runs both models, checks they agree, and checks natsim's records against the arithmetic.


def _small_lab(opens: float | None = None, after: str = "60min", **sections: Any) -> Lab:
    """Lab L: one unit a stage, 1 min a run, PCR 60 min, plates of 4 tubes; ``sections``
    change a stage's settings (``pcr={"instruments": 4}``)."""
    spec: dict[str, Any] = {
        "id": "L",
        "opens": opens,
        "receiving": {"staff": 1, "per_bag": "1min"},
        "loading": {"staff": 1, "per_plate": "1min"},
        "extraction": {"instruments": 1, "run": "1min"},
        "pcr": {"instruments": 1, "wells": 4, "controls": 0, "run": "60min"},
        "report": {"staff": 1, "per_plate": "1min"},
        "partial_plate_after": after,
    }
    for name, changes in sections.items():
        spec[name] = {**spec[name], **changes}
    return Lab.model_validate(spec)


def _bags(sizes: list[int], first: int = 0) -> list[tuple[int, int, int]]:
    """Bags of ``sizes`` tubes, numbered on from tube ``first``, all from point 0."""
    out, lo = [], first
    for n in sizes:
        out.append((lo, lo + n, 0))
        lo += n
    return out


def _agreed(lab: Lab, deliveries: list[Delivery], n_tubes: int, entries: Entries | None) -> Ledger:
    """natsim's records of the case, once the reference has agreed with them."""
    fast, ref = (
        run_lab_model(m, [lab], deliveries, n_tubes, 1e6, entries) for m in (Labs, ReferenceLabs)
    )
    assert_same_ledger(fast, ref)
    return fast


def _pcr(ledger: Ledger) -> list[tuple[float, float, int]]:
    return [(p.times[4], p.times[5], p.server[2]) for p in ledger.plates]


SATURATING = [3, 2, 1] * 10 + [3, 1]  # 32 bags, 64 tubes: 16 plates of 4


def _saturated(entries: Entries | None) -> Ledger:
    lab = _small_lab(
        receiving={"staff": 32}, loading={"staff": 16}, extraction={"instruments": 16},
        pcr={"instruments": 4}, report={"staff": 4},
    )  # fmt: skip
    return _agreed(lab, [Delivery(0.0, 0.0, "L", _bags(SATURATING))], 64, entries)


@pytest.mark.parametrize("start", [3780.0, 1980.0])
def test_saturated_pcr_with_instruments_out_reports_later_by_their_lost_time(
    start: float,
) -> None:
    """PCR saturated: c = 4 instruments, 60 min a plate, 16 plates queued from the start.

    The 32 bags (3, 2, 1, 3, 2, 1, ..., 3, 1 tubes) are received together 0-60 by 32
    staff, make 16 full plates at 60 (every six bags, 12 tubes, fill three plates),
    loaded 60-120 by 16 loaders, extracted 120-180 on 16 instruments: at 180 the PCR
    queue holds plates 0-15. Without outages PCR runs in four waves, 180 + 3600 k,
    k = 0..3, plate 4k + j on instrument j; the last ends 14580, reported 14640.

    m = 2 of the 4 (instruments 2 and 3, the highest) out under ``finish`` from
    ``start`` to 10980: they finish their first plates (2, 3) at 3780 and are out
    from then to 10980, D = 7200 s, so they miss 2 runs each, 4 runs in all = one
    wave: the last report is m * D / c = 2 * 7200 / 4 = 3600 s later, at 18240.
    From 3780 (T = 7200, the entry starts as those runs end) that is exactly
    m * T / c; from 1980 (mid-run, T = 9000) m * T / c would be 4500, but finishing
    the run keeps the instruments until 3780. Instruments 0, 1 take plates 4, 5 at
    3780 and 6, 7 at 7380; at 10980 instruments 2, 3 are back first (the calendar
    comes first at an instant) and take 8, 9, then 0, 1 end and take 10, 11; at
    14580 2, 3, 0, 1 end in that order and take 12-15, the last ending 18180.
    """
    base = _saturated(None)
    assert _pcr(base) == [
        (180.0 + 3600 * (i // 4), 3780.0 + 3600 * (i // 4), i % 4) for i in range(16)
    ]
    assert max(p.reported for p in base.plates) == 14640.0

    hit = _saturated([{"pcr": [PoolEntry(start, 10980.0, 2, FINISH)]}])
    starts = [180.0] * 4 + [3780.0] * 2 + [7380.0] * 2 + [10980.0] * 4 + [14580.0] * 4
    units = [0, 1, 2, 3, 0, 1, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert _pcr(hit) == [(s, s + 3600, u) for s, u in zip(starts, units, strict=True)]
    m, c, lost = 2, 4, 10980.0 - 3780.0
    last, last_base = max(p.reported for p in hit.plates), max(p.reported for p in base.plates)
    assert last - last_base == m * lost / c == 3600.0


def _two_plates(pcr_units: int, entries: Entries | None) -> Ledger:
    """Bags of 3, 1, 2, 2 tubes at 0, received 0-60 by 4 staff: plates 0 (tubes 0-3) and
    1 (4-7) formed at 60, loaded 60-120, extracted 120-180 (two of each), PCR from 180;
    one report staff, 5 min a plate."""
    lab = _small_lab(
        receiving={"staff": 4}, loading={"staff": 2}, extraction={"instruments": 2},
        pcr={"instruments": pcr_units}, report={"per_plate": "5min"},
    )  # fmt: skip
    return _agreed(lab, [Delivery(0.0, 0.0, "L", _bags([3, 1, 2, 2]))], 8, entries)


@pytest.mark.parametrize(
    ("rule", "end", "pcr_end"),
    [
        pytest.param(RESUME, 1980.0, 3780.0 + 600, id="resume, T 600"),
        pytest.param(RESUME, 3180.0, 3780.0 + 1800, id="resume, T 1800"),
        # the entry outlasts the run: it still needs 2400 s when it is back
        pytest.param(RESUME, 6000.0, 3780.0 + 4620, id="resume, T 4620"),
        pytest.param(FINISH, 3180.0, 3780.0, id="finish"),
    ],
)
def test_resume_carries_a_stopped_run_on_for_the_time_it_still_needed(
    rule: int, end: float, pcr_end: float
) -> None:
    """Two PCR instruments, plate 0 on instrument 0 and plate 1 on 1, both 180-3780.

    One instrument (the highest: 1) out from 1380 to ``end``, T = end - 1380. With
    ``resume`` plate 1's run stops at 1380 with 2400 s to go and carries on at ``end``:
    it ends at end + 2400 = 3780 + T, exactly T later, and keeps its start (180).
    With ``finish`` it runs to 3780 as if nothing happened (the instrument was back
    at 3180). Plate 0 is untouched: PCR 180-3780, reported 3780-4080 (5 min); plate
    1 is reported from max(its PCR end, 4080) for 5 min.
    """
    led = _two_plates(2, [{"pcr": [PoolEntry(1380.0, end, 1, rule)]}])
    assert _pcr(led) == [(180.0, 3780.0, 0), (180.0, pcr_end, 1)]
    report_start = max(pcr_end, 4080.0)
    assert [(p.times[6], p.times[7]) for p in led.plates] == [
        (3780.0, 4080.0),
        (report_start, report_start + 300),
    ]
    if rule == RESUME:
        assert pcr_end - 3780.0 == end - 1380.0


@pytest.mark.parametrize(
    ("end", "second_start"), [(1980.0, 3780.0), (3780.0, 3780.0), (5400.0, 5400.0)]
)
def test_finish_takes_the_next_plate_at_once_if_the_entry_is_over(
    end: float, second_start: float
) -> None:
    """One PCR instrument: plate 0 180-3780, plate 1 waiting. The instrument is out from
    780 to ``end`` under ``finish``: it finishes plate 0 at 3780 regardless. If the entry
    is over by then (ended at 1980, or at 3780 itself: the calendar comes first at an
    instant), it takes plate 1 at once, 3780-7380; if not (5400), plate 1 waits for it,
    5400-9000."""
    led = _two_plates(1, [{"pcr": [PoolEntry(780.0, end, 1, FINISH)]}])
    assert _pcr(led) == [(180.0, 3780.0, 0), (second_start, second_start + 3600, 0)]


_CLOSED_FINISH = (
    [(0.0, 600.0), (600.0, 1200.0), (3000.0, 3600.0), (7200.0, 7800.0)],
    [
        (4, [1200.0, 1800.0, 1800.0, 2400.0, 2400.0, 4200.0, 7200.0, 7800.0]),
        (2, [7200.0, 7800.0, 7800.0, 8400.0, 8400.0, 10200.0, 10200.0, 10800.0]),
        (1, [8700.0, 9300.0, 9300.0, 9900.0, 10200.0, 12000.0, 12000.0, 12600.0]),
    ],
)
_CLOSED_RESUME = (
    [(0.0, 600.0), (600.0, 1200.0), (3000.0, 7200.0), (7200.0, 7800.0)],
    [
        (4, [1200.0, 1800.0, 1800.0, 2400.0, 2400.0, 7800.0, 7800.0, 8400.0]),
        (3, [8100.0, 8700.0, 8700.0, 9300.0, 9300.0, 11100.0, 11100.0, 11700.0]),
    ],
)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [(FINISH, _CLOSED_FINISH), (RESUME, _CLOSED_RESUME)],
    ids=["finish", "resume"],
)
def test_a_lab_closed_for_a_while(
    rule: int, expected: tuple[list[tuple[float, float]], list[tuple[int, list[float]]]]
) -> None:
    """Every stage out (``what: lab``) from 3600 to 7200; one unit a stage, 10 min a run,
    PCR 30 min, plates of 4, a part-full plate after 15 min.

    Bags: 3 and 1 tubes at 0, 2 at 3000, 1 at 5400 (during the closure). Before it:
    bags received 0-600, 600-1200; plate A (tubes 0-3) formed 1200, loaded to 1800,
    extracted to 2400, PCR from 2400. At 3600 the calendar comes first: the receiver
    (bag 2, due 3600) and the PCR (A, due 4200) are busy, loading, extraction and
    report idle.

    ``finish``: bag 2 is received at 3600, A's PCR ends at 4200; then nobody works
    until 7200 (bag 3 waits from 5400, plate A for its report, tubes 4-5 for a
    plate, overdue since 4500). At 7200 the stages come back in order: bag 3
    received 7200-7800; plate B (tubes 4-5, overdue) loaded 7200-7800; A reported
    7200-7800. At 7800 bag 3's receipt ends before B's load (scheduled first): its
    tube waits (overdue at 8700); B extracted 7800-8400, PCR 8400-10200, reported
    10200-10800. Plate C (tube 6) formed 8700, loaded to 9300, extracted to 9900,
    PCR after B 10200-12000, reported 12000-12600.

    ``resume``: bag 2's receipt stops at 3600 with nothing left to do and A's PCR
    with 600 s left. At 7200 the receiver ends bag 2 at once (received 7200: its
    tubes, 2, wait; overdue at 8100) and takes bag 3, 7200-7800; A's PCR ends 7800,
    reported 7800-8400. At 7800 bag 3's tube joins the two: 3 tubes, not a full
    plate; plate B (tubes 4-6) is formed at 8100, loaded to 8700, extracted to 9300,
    PCR 9300-11100, reported 11100-11700.
    """
    lab = _small_lab(
        after="15min", receiving={"per_bag": "10min"}, loading={"per_plate": "10min"},
        extraction={"run": "10min"}, pcr={"run": "30min"}, report={"per_plate": "10min"},
    )  # fmt: skip
    deliveries = [
        Delivery(0.0, 0.0, "L", _bags([3, 1])),
        Delivery(2970.0, 3000.0, "L", _bags([2], 4)),
        Delivery(5370.0, 5400.0, "L", _bags([1], 6)),
    ]
    closed = [{name: [PoolEntry(3600.0, 7200.0, ALL, rule)] for name in STAGE_NAMES}]
    led = _agreed(lab, deliveries, 7, closed)
    bags, plates = expected
    assert [b.delivered for b in led.bags] == [0.0, 0.0, 3000.0, 5400.0]
    assert [(b.times[0], b.times[1]) for b in led.bags] == bags
    assert [(p.tubes, p.times) for p in led.plates] == plates
    assert all(s == 0 for p in led.plates for s in p.server)


# -- same-instant calendar changes: natsim lets a unit take a run before it goes out ----------


@pytest.mark.parametrize("rule", [FINISH, RESUME], ids=["finish", "resume"])
def test_an_entry_from_the_opening_keeps_its_units_out(rule: int) -> None:
    """Lab L opens at 600; its only receiver is out from 600 to 1800 (10 min a bag). A bag
    delivered at 100 waits for the lab, then for the receiver: received 1800-2400 (at
    600 the entry's start is applied before anything else, so the receiver never
    takes the bag before 1800).

    natsim opens the stage first and hands the bag out, then applies the entry: with
    ``finish`` the bag is received 600-1200, during the outage; with ``resume`` it is
    stamped as started at 600 and received 2400.
    """
    lab = _small_lab(opens=600.0, receiving={"per_bag": "10min"})
    deliveries = [Delivery(50.0, 100.0, "L", _bags([3]))]
    entries = [{"receiving": [PoolEntry(600.0, 1800.0, 1, rule)]}]
    ref = run_lab_model(ReferenceLabs, [lab], deliveries, 3, 1e6, entries)
    assert (ref.bags[0].receive_start, ref.bags[0].received) == (1800.0, 2400.0)
    fast = run_lab_model(Labs, [lab], deliveries, 3, 1e6, entries)
    assert (fast.bags[0].times[0], fast.bags[0].times[1]) == (1800.0, 2400.0)


@pytest.mark.parametrize("rule", [FINISH, RESUME], ids=["finish", "resume"])
@pytest.mark.parametrize("listed", ["in time order", "later first"])
def test_back_to_back_entries_keep_the_unit_out(rule: int, listed: str) -> None:
    """The only receiver is out 0-1200 and again 1200-2400 (two entries, back to back);
    10 min a bag. A bag delivered at 100 is received 2400-3000: at 1200 one entry ends
    and the other starts, the unit stays out.

    natsim applies the two changes at 1200 in the order it scheduled them: listed in
    time order, the end comes first, the receiver comes back and takes the bag, then
    goes out again (``finish``: received 1200-1800; ``resume``: started 1200, received
    3000). Listed the other way round it is right.
    """
    lab = _small_lab(receiving={"per_bag": "10min"})
    deliveries = [Delivery(50.0, 100.0, "L", _bags([2]))]
    rows = [PoolEntry(0.0, 1200.0, 1, rule), PoolEntry(1200.0, 2400.0, 1, rule)]
    entries = [{"receiving": rows if listed == "in time order" else rows[::-1]}]
    ref = run_lab_model(ReferenceLabs, [lab], deliveries, 2, 1e6, entries)
    assert (ref.bags[0].receive_start, ref.bags[0].received) == (2400.0, 3000.0)
    fast = run_lab_model(Labs, [lab], deliveries, 2, 1e6, entries)
    assert (fast.bags[0].times[0], fast.bags[0].times[1]) == (2400.0, 3000.0)


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


def test_rounds_whose_vehicles_choose_by_the_labs_work_match_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dispatch reads what each lab has in hand: the reference lab, fed and read the same
    way, must lead the vehicles to the same labs and give the same ledger."""
    from .test_dispatch import MOBILE, with_lab

    zhaoling = with_lab(sim.load_scenario(SCENARIOS / "zhaoling.yaml"), MOBILE)
    for dispatch in ("earliest_finish", {"rule": "route", "overflow_after": "2h"}):
        for scenario in (zhaoling, zhaoling.deterministic()):
            varied = scenario.with_changes({"transport.dispatch": dispatch})
            fast = _replicate(varied, Labs, monkeypatch)
            ref = _replicate(varied, ReferenceLabs, monkeypatch)
            assert [t.lab for t in fast.trips] == [t.lab for t in ref.trips]
            assert len({t.lab for t in fast.trips}) == 4  # the tubes went to every lab
            assert_same_ledger(fast, ref)


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


# the disruptions of the whole rounds below: six of zhaoling-hospital's 18 PCR instruments
# out for 3 h (finish), the city lab closed for half an hour (resume), 12 of the mobile lab's
# 46 PCR instruments out for 2 h (resume), a report staff member out at every lab
ZHAOLING_DISRUPTIONS = {
    "disruptions": [
        {"what": "pcr", "where": "zhaoling-hospital", "units": 6, "from": "12:00", "for": "3h"},
        {"what": "lab", "where": "luohe-cdc", "from": "11:00", "for": "30min", "rule": "resume"},
        {
            "what": "pcr", "where": "henan-mobile-1", "units": 12, "from": "13:00",
            "for": "2h", "rule": "resume",
        },
        {"what": "report", "where": "*", "units": 1, "from": "15:00", "for": "1h"},
    ]
}  # fmt: skip
TINY_DISRUPTIONS = {
    "disruptions": [
        {"what": "lab", "where": "L", "from": "08:40", "for": "40min"},
        {"what": "pcr", "where": "L", "from": "10:00", "for": "30min", "rule": "resume"},
        {"what": "vehicle", "where": "R1/v1", "from": "07:55", "for": "20min", "rule": "resume"},
    ]
}


def _last_reports(ledger: Ledger, labs: int) -> list[float]:
    last = [-np.inf] * labs
    for p in ledger.plates:
        last[p.lab] = max(last[p.lab], p.reported)
    return last


@pytest.mark.parametrize(
    ("name", "disrupted_labs"),
    [("zhaoling", [0, 1, 2]), ("zhaoling, every duration fixed", [0, 1, 2]), ("tiny", [0])],
)
def test_disrupted_rounds_match_reference_and_finish_later(
    name: str, disrupted_labs: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole round with ``disruptions:`` (built into calendar entries by ``world``): natsim's
    lab and the reference keep the same records, and the labs hit report their last plate
    later than in the round without them, and so does the round."""
    if name == "tiny":
        base = sim.load_scenario(SCENARIOS / "tiny.yaml")
        changes = TINY_DISRUPTIONS
    else:
        base = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
        base = base.deterministic() if "fixed" in name else base
        changes = ZHAOLING_DISRUPTIONS
    hit = base.with_changes(changes)
    assert any(pool_entries(hit)), "the disruptions give the labs calendar entries"
    fast = _replicate(hit, Labs, monkeypatch)
    ref = _replicate(hit, ReferenceLabs, monkeypatch)
    assert len(ref.plates) > 0
    assert_same_ledger(fast, ref)
    calm = _replicate(base, Labs, monkeypatch)
    n_labs = len(base.labs)
    before, after = _last_reports(calm, n_labs), _last_reports(fast, n_labs)
    for k in disrupted_labs:
        assert after[k] > before[k], (base.labs[k].id, before[k], after[k])
    assert max(after) > max(before)


def test_a_lab_closed_from_its_opening_receives_nothing_before_it_reopens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tiny round's lab opens at 08:45 and is closed (``what: lab``) from 08:45 for 1 h.
    The round's only trip delivers its two bags at about 08:19; they wait, and the first
    is received 09:45-09:55 (9900-10500 s from 07:00), the second 09:55-10:05.

    natsim opens the lab at 08:45, hands the first bag to the receiver and only then
    applies the closure: the bag is received 08:45-08:55, while the lab is closed (see
    ``test_an_entry_from_the_opening_keeps_its_units_out``)."""
    scenario = sim.load_scenario(SCENARIOS / "tiny.yaml").with_changes(
        {
            "labs.L.opens": "08:45",
            "disruptions": [{"what": "lab", "where": "L", "from": "08:45", "for": "1h"}],
        }
    )
    ref = _replicate(scenario, ReferenceLabs, monkeypatch)
    assert [(b.receive_start, b.received) for b in ref.bags] == [(9900, 10500), (10500, 11100)]
    fast = _replicate(scenario, Labs, monkeypatch)
    assert [(b.times[0], b.times[1]) for b in fast.bags] == [(9900, 10500), (10500, 11100)]


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
