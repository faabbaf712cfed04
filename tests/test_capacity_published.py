"""Labs described as planners publish them: tubes a day (and a turnaround), from which
natsim derives the stages; every lab's capacity in tubes a day, shown and checked."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import sim
from sim.checks import check
from sim.model.capacity import capacity_table
from sim.scenario.schema import BAG_TUBES, HEADROOM, Lab

from .conftest import SCENARIOS
from .test_cli import natsim

MOBILE = {"id": "mobile", "location": [33.58, 114.05], "tubes_per_day": 4700}


def test_stages_are_derived_from_tubes_a_day_by_hand() -> None:
    """4,700 tubes a day (docs/sources.md: a provincial mobile PCR vehicle does 4,000-5,000)
    is 195.8 an hour. PCR (75 min, 94 samples a plate): 195.8 x 1.25 / 94 = 2.6 -> 3
    instruments; the others at 1.25 x that rate: receiving 244.8 x (10/60) h / 25 tubes
    = 1.6 -> 2 staff; loading 244.8 x 0.5 / 94 = 1.3 -> 2; extraction (30 min, one
    plate) 2; report (10 min) 0.43 -> 1."""
    lab = Lab.model_validate(MOBILE)
    assert (HEADROOM, BAG_TUBES) == (1.25, 25)
    counts = (
        lab.receiving.staff, lab.loading.staff, lab.extraction.instruments, lab.pcr.instruments,
        lab.report.staff,
    )  # fmt: skip
    assert counts == (2, 2, 2, 3, 1)
    rate = 4700 / 24
    assert lab.pcr.instruments == math.ceil(rate * 1.25 / 94)


def test_given_counts_and_times_are_kept_and_used() -> None:
    lab = Lab.model_validate(
        {
            **MOBILE,
            "pcr": {"run": "100min"},
            "receiving": {"staff": 7},
            "report": {"per_plate": "1h"},
        }
    )
    assert lab.receiving.staff == 7  # given: kept
    assert lab.pcr.instruments == math.ceil(4700 / 24 * (100 / 60) / 94) == 4
    assert lab.report.staff == math.ceil(1.25 * 4700 / 24 * 1.0 / 94) == 3


def test_the_derived_lab_tests_what_was_published() -> None:
    """Zhaoling's tubes all sent to one lab published at 48,000 tubes a day: once its
    PCR is saturated it reports at the derived rate (within 5 %), which is the published
    one rounded up to whole instruments."""
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    one = zhaoling.with_changes(
        {"labs": [{"id": "big", "location": [33.58, 114.05], "tubes_per_day": 48000}]}
    )
    row = capacity_table(one)[0]
    assert row.bottleneck == "PCR" and row.published_tubes_per_day == 48000
    assert 48000 <= row.tubes_per_day < 48000 * 1.05
    tubes = sim.run(one).tubes
    reported = tubes["reported_h"]
    between = int(((reported > 9.0) & (reported <= 15.0)).sum())
    assert between / 6.0 == pytest.approx(row.tubes_per_day / 24, rel=0.05)


def test_too_few_given_and_a_turnaround_too_short_are_warnings() -> None:
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    short = zhaoling.with_changes(
        {"labs": [{**MOBILE, "pcr": {"instruments": 1}, "turnaround": "2h"}]}
    )
    found = [f.message for f in check(short) if f.code == "lab-below-published"]
    assert len(found) == 2
    assert "published at 4,700 tubes a day but its stages test 1,805 (PCR is short" in found[0]
    assert (
        "one pass through its stages takes 2.6 h, longer than its published turnaround of 2 h"
        in found[1]
    )
    fine = zhaoling.with_changes({"labs": [{**MOBILE, "turnaround": "6h"}]})
    assert not [f for f in check(fine) if f.code == "lab-below-published"]


def test_every_labs_capacity_is_shown(tmp_path: Path) -> None:
    text = (
        (SCENARIOS / "tiny.yaml")
        .read_text()
        .replace(
            "  - id: L\n    location: [33.565, 114.054]\n",
            "  - id: L\n    location: [33.565, 114.054]\n    tubes_per_day: 2000\n",
        )
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    out = natsim("validate", str(path))
    # tiny gives every stage, so the published figure is only checked: PCR 1 x 94 / 75 min
    assert "lab L: 1,805 tubes a day (PCR), one pass 2.6 h; published 2,000 a day" in out.stdout
    assert "published at 2,000 tubes a day but its stages test 1,805" in out.stdout
    run = sim.run(sim.load_scenario(path))
    rows = run.summary()["lab_capacity"]
    assert rows == [
        {
            "lab": "L", "tubes_per_day": 1805, "bottleneck": "PCR", "pass_h": pytest.approx(155 / 60),
            "published_tubes_per_day": 2000, "published_turnaround_h": None,
        }
    ]  # fmt: skip


def test_changing_tubes_a_day_derives_the_stages_again() -> None:
    """Review finding: --set labs.X.tubes_per_day was silently ignored (the derived counts
    were taken as given). A count set explicitly stays given."""
    zhaoling = sim.load_scenario(SCENARIOS / "zhaoling.yaml")
    sc = zhaoling.with_changes({"labs": [MOBILE]})
    assert sc.labs[0].derived == ("receiving", "loading", "extraction", "pcr", "report")
    bigger = sc.with_changes({"labs.mobile.tubes_per_day": 47000})
    assert bigger.labs[0].pcr.instruments == math.ceil(47000 / 24 * 1.25 / 94) == 27
    given = sc.with_changes({"labs.mobile.pcr.instruments": 10})
    assert "pcr" not in given.labs[0].derived
    assert given.with_changes({"labs.mobile.tubes_per_day": 47000}).labs[0].pcr.instruments == 10
