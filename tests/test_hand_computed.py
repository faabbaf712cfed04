"""A whole round whose every time is worked out by hand (HAND_ROUND in conftest.py).

Point A, one station, 20 residents arriving evenly over 07:00-08:00: resident i
arrives at 90 + 180 i seconds and is swabbed at once for 30 s; tubes of 10 are
sealed 60 s after their 10th swab.
  tube 1: 10th resident arrives 1710, swabbed to 1740, sealed 1800
  tube 2: 20th resident arrives 3510, swabbed to 3540, sealed 3600 (= closing)
Transport: the 07:30 (1800) pickup drives 10 min to A (2400), takes tube 1
(sealed by then), hands over 5 min (2700), drives back (3300). Tube 2 is sealed
at 3600, the point's last: the final sweep leaves at once (3600), reaches A at
4200, hands over to 4500, delivers at 5100.
Lab: one receiving staff, 10 min a bag: bag 1 3300-3900, bag 2 5100-5700.
Partial plates after 20 min: plate 1 (tube 1) formed 5100, loaded 5100-6900;
plate 2 (tube 2) formed 6900 by the second loader, loaded 6900-8700.
One extractor, 30 min: plate 1 6900-8700, plate 2 8700-10500.
One PCR, 75 min: plate 1 8700-13200, plate 2 waits, 13200-17700.
One reporter, 10 min: plate 1 13200-13800, plate 2 17700-18300.
Completion 18300 s = 5.0833 h: the 5 h target is missed with half the residents
reported (plate 1), the 6 h target is met.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import sim

from .conftest import HAND_ROUND

H = 3600.0


@pytest.fixture
def result(write_scenario: Callable[..., Path]) -> sim.Result:
    return sim.run(sim.load_scenario(write_scenario(HAND_ROUND)))


def test_every_tube_timestamp(result: sim.Result) -> None:
    t = result.tubes
    expected = {
        "first_swab_h": [90, 1890],
        "last_swab_h": [1740, 3540],
        "sealed_h": [1800, 3600],
        "picked_up_h": [2700, 4500],
        "delivered_h": [3300, 5100],
        "receive_start_h": [3300, 5100],
        "received_h": [3900, 5700],
        "plate_formed_h": [5100, 6900],
        "plated_h": [6900, 8700],
        "extraction_start_h": [6900, 8700],
        "extraction_end_h": [8700, 10500],
        "pcr_start_h": [8700, 13200],
        "pcr_end_h": [13200, 17700],
        "report_start_h": [13200, 17700],
        "reported_h": [13800, 18300],
    }
    for column, seconds in expected.items():
        np.testing.assert_allclose(
            t[column].to_numpy(), np.array(seconds) / H, atol=1e-9, err_msg=column
        )
    assert list(t["residents"]) == [10, 10]
    assert list(t["trip"]) == [0, 1]
    assert list(result.trips["reason"]) == ["schedule", "sweep"]


def test_stage_completions_and_targets(result: sim.Result) -> None:
    s = result.summary()
    assert s["residents_swabbed"] == 20 and s["tubes"] == 2 and s["plates"] == 2
    assert s["finished"] is True
    assert s["completion_h"] == pytest.approx(18300 / H)
    assert s["completion_clock"] == "12:05"
    assert s["stages_h"] == pytest.approx(
        {
            "last_swab": 3540 / H,
            "last_delivery": 5100 / H,
            "last_pcr": 17700 / H,
            "last_report": 18300 / H,
        }
    )
    five, six = s["targets"]
    assert (five["hours"], five["met"], five["share_reported"]) == (5.0, False, 0.5)
    assert (six["hours"], six["met"], six["share_reported"]) == (6.0, True, 1.0)
    assert six["spare_h"] == pytest.approx(6 - 18300 / H)


def test_critical_path_of_the_last_tube(result: sim.Result) -> None:
    path = {r["segment"]: r["hours"] for r in result.summary()["critical_path"]}
    # the last tube (tube 2): its first resident came at 1890 and was swabbed at once (no
    # line), filled 1890-3600, waited for pickup 3600-4500, PCR queue 10500-13200
    assert path["line wait"] == 0.0
    assert path["filling"] == pytest.approx((3600 - 1890) / H)
    assert path["pickup wait"] == pytest.approx(900 / H)
    assert path["PCR wait"] == pytest.approx(2700 / H)
    assert path["PCR"] == pytest.approx(4500 / H)
    assert sum(path.values()) == pytest.approx((18300 - 1890) / H)
    waited = result.summary()["longest_wait"]
    assert waited["stage"] == "pcr" and waited["where"] == "L"


def test_point_statistics(result: sim.Result) -> None:
    p = result.points.iloc[0]
    assert p["residents"] == 20 and p["tubes"] == 2
    assert p["peak_queue"] == 0 and p["max_wait_min"] == 0
    assert p["last_swab_h"] == pytest.approx(3540 / H)
