"""The district map: points, routes and labs drawn from their coordinates alone."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection

import sim
from sim import plots

from .conftest import SCENARIOS


def test_the_map_places_every_point_and_lab_and_weighs_routes_by_tubes() -> None:
    result = sim.run(sim.load_scenario(SCENARIOS / "tiny.yaml"))
    fig = plots.district_map(result)
    ax = fig.axes[0]
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    n_points = sum(p.location is not None for p in result.scenario.points)
    assert dots[0].get_offsets().shape[0] == n_points
    # the colour is each point's peak queue, as the points table has it
    np.testing.assert_allclose(
        np.sort(dots[0].get_array()), np.sort(result.points["peak_queue"].to_numpy(float))
    )
    assert len(dots) == 1 + len(result.scenario.labs)  # one square a lab
    # a route that carried tubes is drawn wider than the thinnest line
    widths = [line.get_linewidth() for line in ax.lines]
    assert widths and max(widths) > 0.4
    assert "map" in plots.FIGURES


def test_the_map_says_when_there_are_no_coordinates(write_scenario) -> None:  # type: ignore[no-untyped-def]
    from .conftest import HAND_ROUND

    result = sim.run(sim.load_scenario(write_scenario(HAND_ROUND)))
    fig = plots.district_map(result)
    assert any("no point has coordinates" in t.get_text() for t in fig.axes[0].texts)
