"""A point served in pieces (stopped at a moment, carried on from its state) is the point
served in one: every tube, statistic, swab count and queue sample is the same.

This is what lets a round stop at 10:00 and carry on (sim.model.state): the
collection kernel stops before the first resident who would start at or after
the stop and hands over the stations, the open tubes, the line and the running
sums of the statistics.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.model.collect import Collection, collect_round
from sim.random import Streams

from .conftest import random_tiny

STEP = 900.0
FIELDS = (
    "residents", "tube_bounds", "tube_station", "tube_first", "tube_last", "tube_sealed",
    "tube_size", "tube_arrival", "stats", "first_arrival", "last_arrival",
)  # fmt: skip


def _disrupted() -> sim.Scenario:
    """The random tiny round with stations closed for a while (some, then all)."""
    return random_tiny().with_changes(
        {
            "disruptions": [
                {"what": "sampling", "where": "A", "from": "07:20", "for": "15min", "units": 2},
                {"what": "sampling", "from": "07:50", "for": "10min"},
            ]
        }
    )


def _series(c: Collection, i: int) -> dict[float, int]:
    rows = slice(c.queue_bounds[i], c.queue_bounds[i + 1])
    return dict(zip(c.queue_time[rows].tolist(), c.queue[rows].tolist(), strict=True))


@pytest.mark.parametrize("disrupted", [False, True])
@pytest.mark.parametrize(
    "stops", [[600.0], [1500.0], [3600.0], [9000.0], [1300.0, 1400.0], [600.0, 2000.0, 5000.0]]
)
def test_pieces_give_the_whole(disrupted: bool, stops: list[float]) -> None:
    scenario = _disrupted() if disrupted else random_tiny()
    for replication in range(3):
        streams = Streams(5, replication)
        cells = int(np.ceil(scenario.round.horizon / STEP)) + 2
        swabbed_whole = np.zeros(cells, np.int64)
        whole = collect_round(scenario, streams, STEP, swabbed_whole)
        swabbed = np.zeros(cells, np.int64)
        pieces: list[Collection] = []
        state = None
        for stop in [*stops, np.inf]:
            piece = collect_round(scenario, streams, STEP, swabbed, stop=stop, resume=state)
            pieces.append(piece)
            state = piece.state
        last = pieces[-1]
        assert last.state is None
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(last, name), getattr(whole, name), err_msg=name)
        np.testing.assert_array_equal(swabbed, swabbed_whole)
        for i in range(len(scenario.points)):
            merged: dict[float, int] = {}
            for piece in pieces:
                part = _series(piece, i)
                assert not set(part) & set(merged), "two pieces sampled the same moment"
                merged.update(part)
            assert merged == _series(whole, i)


def test_the_state_says_who_is_in_line_and_what_each_station_is_doing() -> None:
    scenario = random_tiny()
    streams = Streams(5, 0)
    cells = int(np.ceil(scenario.round.horizon / STEP)) + 2
    piece = collect_round(scenario, streams, STEP, np.zeros(cells, np.int64), stop=1500.0)
    state = piece.state
    assert state is not None and state.time == 1500.0
    whole = collect_round(scenario, streams, STEP, np.zeros(cells, np.int64), keep_residents=True)
    assert whole.arrivals is not None and whole.swab_start is not None
    for i in range(len(scenario.points)):
        rows = slice(whole.resident_bounds[i], whole.resident_bounds[i + 1])
        arrivals, begun = whole.arrivals[rows], whole.swab_start[rows]
        assert state.started[i] == int((begun < 1500.0).sum())
        assert state.arrived[i] == int((arrivals < 1500.0).sum())
        line = state.line[state.line_bounds[i] : state.line_bounds[i + 1]]
        np.testing.assert_array_equal(line, arrivals[(arrivals < 1500.0) & (begun >= 1500.0)])
        # a station is free by the stop, or busy with someone who began before it
        stations = slice(state.station_bounds[i], state.station_bounds[i + 1])
        assert (state.count[stations] >= 0).all()
        open_tubes = state.current[stations][state.current[stations] >= 0]
        t = slice(state.tube_bounds[i], state.tube_bounds[i + 1])
        assert np.isnan(state.tube_sealed[t][open_tubes]).all()
