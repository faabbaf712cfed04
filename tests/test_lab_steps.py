"""Labs that list their own steps, worked out by hand.

Every lab here has plates of 12 wells with 2 controls (10 tubes a plate) and
bags of uneven sizes (10, 10 and 5 tubes), so that counting bags, plates or
tubes in place of one another gives other times. Durations are fixed; times
are minutes from the start. The cases:

* a shared pool: one technician both unpacks bags and loads plates; the lab
  offers a freed technician to the later step first;
* a strict batch: heat inactivation waits for four plates, at most 60 min
  after the first joined, then runs with what it has;
* four plates stamped into one (``combine``): PCR and report run once for the
  four, and the cycler's busy time counts that run once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim
from sim.checks import check
from sim.model.engine import Engine
from sim.model.lab import Labs
from sim.model.ledger import Ledger
from sim.random import Streams
from sim.scenario.errors import ScenarioError
from sim.scenario.schema import Lab

from .conftest import HAND_ROUND, SCENARIOS
from .test_lab_reference import _ledger

M = 60.0


def _lab(**fields: Any) -> Lab:
    return Lab.model_validate(
        {"id": "L", "plate": {"wells": 12, "controls": 2}, "partial_plate_after": "30min", **fields}
    )


def _run(lab: Lab, bags: list[tuple[float, int]], horizon: float = 24 * 3600.0) -> Ledger:
    """Deliver bags of the given sizes at the given minutes; run to the horizon."""
    n = sum(size for _, size in bags)
    engine = Engine()
    ledger = _ledger(n)
    labs = Labs(engine, [lab], 0.0, ledger, Streams(0, 0))
    lo = 0
    for at, size in bags:
        spec = [(lo, lo + size, 0)]
        engine.env.timeout(at * M).callbacks.append(
            lambda _, spec=spec: labs["L"].deliver(list(spec))
        )
        lo += size
    engine.run(horizon)
    return ledger


def _minutes(values: list[float]) -> list[float]:
    return [round(v / M, 6) for v in values]


# -- a pool shared by two steps ---------------------------------------------------------
SHARED = {
    "pools": {"tech": {"staff": 1}, "cycler": {"instruments": 1}},
    "steps": [
        {"name": "unpack", "works_on": "bag", "needs": {"tech": 1}, "duration": "10min"},
        {"name": "load", "works_on": "tube", "needs": {"tech": 1}, "duration": "20min"},
        {"name": "pcr", "works_on": "plate", "needs": {"cycler": 1}, "duration": "60min",
         "amplifies": True},
    ],
}  # fmt: skip


def test_a_shared_technician_unpacks_and_loads_later_work_first() -> None:
    """Three bags at 0 (10, 10, 5 tubes), one technician.

    0-10 unpacks bag 1; at 10 the technician is free and both steps want them: the
    later step (load) goes first, 10-30 plate 1; then unpack bag 2 30-40; load plate 2
    40-60; unpack bag 3 60-70. Its 5 tubes wait for a plate until 70 + 30 = 100:
    plate 3 loads 100-120. The cycler: plate 1 30-90, plate 2 90-150, plate 3 150-210.
    """
    led = _run(_lab(**SHARED), [(0, 10), (0, 10), (0, 5)])
    assert _minutes([b.times[0] for b in led.bags]) == [0, 30, 60]
    assert _minutes([b.times[1] for b in led.bags]) == [10, 40, 70]
    assert [p.tubes for p in led.plates] == [10, 10, 5]
    assert _minutes([p.times[0] for p in led.plates]) == [10, 40, 100]
    assert _minutes([p.times[1] for p in led.plates]) == [30, 60, 120]
    assert _minutes([p.times[2] for p in led.plates]) == [30, 90, 150]
    assert _minutes([p.times[3] for p in led.plates]) == [90, 150, 210]
    led.settle()
    assert [int(x) for x in led.tube_plate] == [0] * 10 + [1] * 10 + [2] * 5


# -- a strict batch ---------------------------------------------------------------------
def _batch_lab(wait: str = "60min") -> Lab:
    return _lab(
        pools={"tech": {"staff": 1}, "block": {"instruments": 1}, "cycler": {"instruments": 1}},
        steps=[
            {"name": "load", "works_on": "tube", "needs": {"tech": 1}, "duration": "10min"},
            {"name": "heat", "works_on": "plate", "needs": {"block": 1}, "duration": "30min",
             "batch": {"size": 4, "min": 4, "wait": wait}},
            {"name": "pcr", "works_on": "plate", "needs": {"cycler": 1}, "duration": "20min",
             "amplifies": True},
        ],
        partial_plate_after="15min",
    )  # fmt: skip


def test_a_batch_waits_for_four_plates_until_its_limit() -> None:
    """Bags of 10, 10, 5 at 0 (no bag step: received at once). Plates load 0-10, 10-20
    and, the 5 tubes being overdue by 20 (0 + 15), 20-30. Heat wants four: the first
    plate joined at 10, so it runs at 10 + 60 = 70 with the three, 70-100; PCR one at a
    time: 100-120, 120-140, 140-160."""
    led = _run(_batch_lab(), [(0, 10), (0, 10), (0, 5)])
    assert [p.tubes for p in led.plates] == [10, 10, 5]
    assert _minutes([p.times[1] for p in led.plates]) == [10, 20, 30]
    assert _minutes([p.times[2] for p in led.plates]) == [70, 70, 70]
    assert _minutes([p.times[3] for p in led.plates]) == [100, 100, 100]
    assert [p.server[1] for p in led.plates] == [0, 0, 0]
    assert _minutes([p.times[5] for p in led.plates]) == [120, 140, 160]


def test_a_full_batch_starts_at_once() -> None:
    """A fourth bag (10 tubes, at 0) makes a fourth plate (loaded 30-40, the 5-tube plate
    last, as its tubes came last): heat runs at 40 with all four, before its limit."""
    led = _run(_batch_lab(), [(0, 10), (0, 10), (0, 5), (0, 10)])
    assert [p.tubes for p in led.plates] == [10, 10, 10, 5]
    assert _minutes([p.times[1] for p in led.plates]) == [10, 20, 30, 40]
    assert _minutes([p.times[2] for p in led.plates]) == [40] * 4
    assert _minutes([p.times[5] for p in led.plates]) == [90, 110, 130, 150]


def test_without_a_wait_a_short_batch_never_runs() -> None:
    """No ``wait``: three plates wait for a fourth to the horizon."""
    lab = _lab(
        pools={"tech": {"staff": 1}, "block": {"instruments": 1}},
        steps=[
            {"name": "load", "works_on": "tube", "needs": {"tech": 1}, "duration": "10min"},
            {"name": "pcr", "works_on": "plate", "needs": {"block": 1}, "duration": "30min",
             "batch": {"size": 4, "min": 4}, "amplifies": True},
        ],
    )  # fmt: skip
    led = _run(lab, [(0, 10), (0, 10), (0, 10)])
    assert all(np.isnan(p.times[2]) for p in led.plates)
    scenario = sim.load_scenario(SCENARIOS / "tiny.yaml").with_changes(
        {"labs": [{**lab.model_dump(mode="json", by_alias=True), "location": [33.565, 114.054]}]}
    )
    found = [f for f in check(scenario) if f.code == "batch-strands-plates"]
    assert len(found) == 1 and "step pcr starts only with 4 plates" in found[0].message


# -- four plates into one ---------------------------------------------------------------
COMBINED = {
    "pools": {
        "tech": {"staff": 1},
        "robot": {"instruments": 1},
        "cycler": {"instruments": 2},
        "analyst": {"staff": 1},
    },
    "steps": [
        {"name": "load", "works_on": "tube", "needs": {"tech": 1}, "duration": "10min"},
        {"name": "stamp", "label": "stamp 4 into 384", "works_on": "plate", "needs": {"robot": 1},
         "duration": "5min", "batch": {"size": 4, "min": 4, "wait": "2h"}, "combine": True},
        {"name": "pcr", "label": "PCR", "works_on": "plate", "needs": {"cycler": 1},
         "duration": "60min", "amplifies": True},
        {"name": "report", "works_on": "plate", "needs": {"analyst": 1}, "duration": "10min"},
    ],
    "partial_plate_after": "15min",
}  # fmt: skip


def test_four_plates_stamped_into_one_run_pcr_once() -> None:
    """Bags of 10, 10, 10, 5 at 0: plates load 0-10, 10-20, 20-30, 30-40 (the 5-tube plate
    overdue since 15); stamped together 40-45; then one PCR run of the 384, 45-105, on
    cycler 0 (cycler 1 stays idle), and one report 105-115."""
    led = _run(_lab(**COMBINED), [(0, 10), (0, 10), (0, 10), (0, 5)])
    assert [p.tubes for p in led.plates] == [10, 10, 10, 5]
    assert _minutes([p.times[2] for p in led.plates]) == [40] * 4
    assert _minutes([p.times[4] for p in led.plates]) == [45] * 4
    assert _minutes([p.times[5] for p in led.plates]) == [105] * 4
    assert [p.server[2] for p in led.plates] == [0] * 4
    assert _minutes([p.times[7] for p in led.plates]) == [115] * 4


def test_combined_plates_in_a_whole_round(write_scenario: Callable[..., Path]) -> None:
    """The hand round (conftest) with the combining lab: tables name the lab's own steps,
    the cycler's busy time counts the 384 run once, the registry labels reach the
    summary, and a pool is a lever."""
    head = HAND_ROUND.split("labs:")[0]
    text = head + (
        "labs:\n  - id: L\n    plate: {wells: 12, controls: 2}\n    partial_plate_after: 15min\n"
        "    pools: {tech: {staff: 1}, robot: {instruments: 1}, cycler: {instruments: 2},"
        " analyst: {staff: 1}}\n    steps:\n"
        "      - {name: load, works_on: tube, needs: {tech: 1}, duration: 10min}\n"
        "      - {name: stamp, works_on: plate, needs: {robot: 1}, duration: 5min,"
        " batch: {size: 2, min: 2, wait: 2h}, combine: true}\n"
        "      - {name: pcr, label: PCR, works_on: plate, needs: {cycler: 1}, duration: 60min,"
        " amplifies: true}\n"
        "      - {name: report, works_on: plate, needs: {analyst: 1}, duration: 10min}\n"
    )
    result = sim.run(sim.load_scenario(write_scenario(text)))
    tubes = result.tubes
    for column in ("load_start_h", "load_end_h", "stamp_start_h", "pcr_end_h", "reported_h"):
        assert column in tubes.columns, column
    # two tubes of 10 residents, delivered at 3300 and 5100 s (no bag step: received then);
    # one tube is a partial plate, loaded 15 min later: 4200-4800 and 6000-6600; stamped as
    # a pair 6600-6900; one PCR run 6900-10500; one report 10500-11100
    assert list(result.plates["tubes"]) == [1, 1]
    assert list(result.plates["residents"]) == [10, 10]
    expected = {
        "load_start_h": [4200, 6000],
        "load_end_h": [4800, 6600],
        "stamp_start_h": [6600, 6600],
        "pcr_start_h": [6900, 6900],
        "pcr_end_h": [10500, 10500],
        "reported_h": [11100, 11100],
    }
    for column, seconds in expected.items():
        np.testing.assert_allclose(tubes[column], np.array(seconds) / 3600, err_msg=column)
    use = result.table("labs").set_index("pool")
    assert use.loc["cycler", "busy_h"] == pytest.approx(1.0)  # one run of 60 min, not two
    s = result.summary()
    assert s["labels"]["segments"]["pcr wait"] == "PCR queue"
    assert "lab cycler" in s["utilisation"]
    assert set(result.tubes["status"].astype(str)) == {"reported"}


# -- what is refused --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pools": {"tech": {"staff": 1}, "cycler": {"instruments": 1}, "idle": {"staff": 2}}},
         "needed by no step"),
        ({"receiving": {"staff": 3}}, "would be ignored"),
        ({"steps": SHARED["steps"][1:2] + SHARED["steps"][0:1] + SHARED["steps"][2:]},
         "bag steps come first"),
        ({"steps": [{**SHARED["steps"][0], "needs": {"robot": 1}}, *SHARED["steps"][1:]]},
         "no pool 'robot'"),
        ({"steps": [*SHARED["steps"][:2], {**SHARED["steps"][2], "amplifies": False}]},
         "amplifies"),
        ({"steps": [*SHARED["steps"][:2], {**SHARED["steps"][2], "needs": {"cycler": 2}}]},
         "needs 2 but the pool has 1"),
        ({"tubes_per_day": 10000}, "tubes_per_day"),
    ],
)  # fmt: skip
def test_bad_step_lists_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, ScenarioError), match=message):
        _lab(**{**SHARED, "pools": {"tech": {"staff": 1}, "cycler": {"instruments": 1}}, **change})


def test_labs_of_one_scenario_share_their_step_names(write_scenario: Callable[..., Path]) -> None:
    head = HAND_ROUND.split("labs:")[0]
    text = head + (
        "labs:\n  - id: L\n"
        "    pools: {tech: {staff: 1}, cycler: {instruments: 1}}\n    steps:\n"
        "      - {name: load, works_on: tube, needs: {tech: 1}, duration: 10min}\n"
        "      - {name: pcr, works_on: plate, needs: {cycler: 1}, duration: 60min, amplifies: true}\n"
        "  - id: M\n"
    )
    with pytest.raises(ScenarioError, match="share one list of step names"):
        sim.load_scenario(write_scenario(text))


# -- the example scenario, as planners change it ------------------------------------------
def test_the_shared_staff_scenario_loads_changes_and_round_trips(tmp_path: Path) -> None:
    from sim.scenario.dumping import scenario_yaml

    sc = sim.load_scenario(SCENARIOS / "zhaoling-shared-staff.yaml")
    assert [s.name for s in sc.process.stages] == ["receive", "load", "extract", "pcr", "report"]
    lab = sc.lab("luohe-cdc")
    assert lab.process.pools["technicians"].units == 11
    assert lab.process.step("extract").batch.min == 2
    more = sc.with_changes({"labs.luohe-cdc.pools.technicians.staff": 12})
    assert more.lab("luohe-cdc").process.pools["technicians"].units == 12
    slower = sc.with_changes({"labs.*.steps.extract.batch.wait": "1h"})
    assert {lab.process.step("extract").batch.wait for lab in slower.labs} == {3600.0}
    # written out and read back: the same scenario (no default-stage sections creep in)
    path = tmp_path / "again.yaml"
    path.write_text(
        scenario_yaml(sc, zones_ref={"csv": str(SCENARIOS / "data" / "zhaoling-zones.csv")})
    )
    again = sim.load_scenario(path)
    assert again.labs == sc.labs
    # every pool is a lever, under the path --set takes
    from sim.experiment.levers import find_levers

    paths = {lever.name for lever in find_levers(sc)}
    assert "labs.luohe-cdc.pools.technicians.staff" in paths
    assert "labs.henan-mobile-1.pools.cycler.instruments" in paths
