"""Figures (sim.plots) and the HTML report (sim.report) on the tiny and Zhaoling rounds."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import sim
from sim import plots
from sim.report import render, write_figures_and_report

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURE_NAMES = ["cumulative", "critical_path", "lab_backlog", "point_queues", "utilisation", "map"]


@pytest.fixture(scope="module")
def tiny() -> sim.Result:
    return sim.run(ROOT / "scenarios" / "tiny.yaml")


@pytest.fixture(scope="module")
def zhaoling() -> sim.Result:
    return sim.run(ROOT / "scenarios" / "zhaoling.yaml")


@pytest.fixture(scope="module")
def unfinished() -> sim.Result:
    """The tiny round with a PCR run too long to finish before the horizon."""
    scenario = sim.load_scenario(ROOT / "scenarios" / "tiny.yaml").with_changes(
        {"round.horizon": "6h", "labs.L.pcr.run": "4h"}
    )
    return sim.run(scenario)


@pytest.fixture(params=["tiny", "zhaoling"])
def result(request: pytest.FixtureRequest) -> sim.Result:
    return request.getfixturevalue(request.param)


def data_lines(ax) -> list[Line2D]:
    """Curves drawn in data coordinates (not target or reference lines)."""
    return [line for line in ax.get_lines() if line.get_transform() is ax.transData]


def vertical_lines(ax) -> list[float]:
    out = []
    for line in ax.get_lines():
        x = np.asarray(line.get_xdata(), dtype=float)
        if line.get_transform() is not ax.transData and len(x) == 2 and x[0] == x[1]:
            out.append(float(x[0]))
    return sorted(out)


def tick_labels(ax) -> list[str]:
    formatter = ax.xaxis.get_major_formatter()
    return [formatter(x, i) for i, x in enumerate(ax.get_xticks())]


# -- cumulative ------------------------------------------------------------------
def test_cumulative_curves_end_at_100_percent(result: sim.Result) -> None:
    fig = plots.cumulative(result)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    curves = {line.get_label(): line for line in data_lines(ax)}
    assert set(curves) == {
        "residents swabbed",
        "tubes delivered to a lab",
        "tubes tested (PCR done)",
        "tubes reported",
    }
    for line in curves.values():
        y = np.asarray(line.get_ydata(), dtype=float)
        assert y[0] == 0.0
        assert np.all(np.diff(y) >= -1e-9), "a cumulative share never goes down"
        assert y.max() <= 100.0 + 1e-9
    assert result.summary()["finished"]
    assert curves["tubes reported"].get_ydata()[-1] == pytest.approx(100.0)
    assert curves["residents swabbed"].get_ydata()[-1] == pytest.approx(100.0)


def test_cumulative_target_lines_and_clock_axis(result: sim.Result) -> None:
    s = result.summary()
    start = result.scenario.round.start
    (ax,) = plots.cumulative(result).axes
    hours = [t["hours"] for t in s["targets"]]
    assert vertical_lines(ax) == pytest.approx(sorted(hours))
    # the x axis starts at the round start and ends a little after the last report / target
    x0, x1 = ax.get_xlim()
    assert x0 == 0.0
    last = max([*hours, s["completion_h"]])
    assert last < x1 <= last + 2.0
    # ticks are evenly spaced round clock times (whole quarter hours at least)
    ticks = np.asarray(ax.get_xticks(), dtype=float)
    assert 4 <= len(ticks) <= 13
    assert np.allclose(np.diff(ticks), ticks[1] - ticks[0])
    assert np.allclose(((start / 3600 + ticks) * 4) % 1, 0)
    labels = tick_labels(ax)
    assert all(re.fullmatch(r"\d\d:\d\d(\+\d)?", label) for label in labels)
    assert ax.xaxis.get_major_formatter()(0.0, 0) == plots.clock(start, 0.0) == "07:00"
    assert ax.xaxis.get_major_formatter()(hours[0], 0) == s["targets"][0]["clock"][:5]
    # each target line is labelled with its hours, clock and verdict
    texts = [t.get_text() for t in ax.texts]
    for t in s["targets"]:
        label = next(x for x in texts if x.startswith(f"{t['hours']:g} h target {t['clock'][:5]}"))
        assert ("MET" in label) == t["met"]
        assert ("MISSED" in label) == (not t["met"])


def test_cumulative_title_gives_scenario_and_verdict(
    tiny: sim.Result, zhaoling: sim.Result
) -> None:
    z = plots.cumulative(zhaoling).axes[0].get_title()
    assert zhaoling.scenario.round.name in z
    clock = zhaoling.summary()["completion_clock"][:5]
    assert f"last result {clock}" in z
    assert "14 h target met" in z
    t = plots.cumulative(tiny).axes[0].get_title()
    assert "4 h target missed" in t and "6 h target met" in t


def test_cumulative_of_an_unfinished_round(unfinished: sim.Result) -> None:
    s = unfinished.summary()
    assert not s["finished"]
    (ax,) = plots.cumulative(unfinished).axes
    assert "unfinished" in ax.get_title()
    reported = next(line for line in data_lines(ax) if line.get_label() == "tubes reported")
    assert reported.get_ydata()[-1] < 100.0
    assert ax.get_xlim()[1] == pytest.approx(unfinished.scenario.round.horizon / 3600)
    assert all("MISSED" in t.get_text() for t in ax.texts)


# -- the other figures -------------------------------------------------------------
def test_critical_path_bars_follow_the_segments(result: sim.Result) -> None:
    path = result.summary()["critical_path"]
    (ax,) = plots.critical_path(result).axes
    bars = ax.patches
    assert len(bars) == len(path)
    widths = [bar.get_width() for bar in bars]
    assert widths == pytest.approx([max(r["hours"], 0.0) for r in path])
    lefts = [bar.get_x() for bar in bars]
    assert lefts == pytest.approx(list(np.concatenate([[0.0], np.cumsum(widths)[:-1]])))
    # the segments run top to bottom in the order of the round
    labels = [t.get_text() for t in ax.get_yticklabels()]
    ys = [t for t in ax.get_yticks()]
    ordered = [label for _, label in sorted(zip(ys, labels, strict=True), reverse=True)]
    assert ordered[0] == "waiting in line" and ordered[-1] == "report"
    # same group, same colour
    colours: dict[str, tuple[float, ...]] = {}
    for row, bar in zip(path, bars, strict=True):
        assert colours.setdefault(row["group"], bar.get_facecolor()) == bar.get_facecolor()


def test_critical_path_of_an_unfinished_round(unfinished: sim.Result) -> None:
    (ax,) = plots.critical_path(unfinished).axes
    assert len(ax.patches) == len(unfinished.summary()["critical_path"]) + 1
    assert ax.patches[-1].get_width() > 0
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any(label.startswith("still open at the horizon") for label in labels)
    assert "not reached" in [t.get_text() for t in ax.texts]


def test_lab_backlog_has_a_curve_per_lab(result: sim.Result) -> None:
    fig = plots.lab_backlog(result)
    top, bottom = fig.axes
    labs = [lab.id for lab in result.scenario.labs]
    backlog = data_lines(top)
    assert len(backlog) == len(labs)
    assert [line.get_label().split(" (")[0] for line in backlog] == labs
    for line in backlog:
        y = np.asarray(line.get_ydata(), dtype=float)
        assert y.min() >= 0 and y.max() > 0 and y[-1] == 0  # everything reported in the end
    running = data_lines(bottom)
    assert len(running) == len(labs)
    for lab, line in zip(result.scenario.labs, running, strict=True):
        assert 0 < np.max(line.get_ydata()) <= lab.pcr.instruments
    assert vertical_lines(top) == pytest.approx(
        sorted(t["hours"] for t in result.summary()["targets"])
    )


def test_point_queues_show_the_longest_queues(zhaoling: sim.Result) -> None:
    (ax,) = plots.point_queues(zhaoling).axes
    lines = data_lines(ax)
    assert len(lines) == 10
    expected = list(zhaoling.points.nlargest(10, "peak_queue")["point"].astype(str))
    assert [line.get_label().split(":")[0] for line in lines] == expected
    # the busiest point's curve peaks near its (exact) peak queue
    peak = zhaoling.points["peak_queue"].max()
    assert 0.5 * peak <= np.max(lines[0].get_ydata()) <= peak
    assert len(data_lines(plots.point_queues(zhaoling, top=3).axes[0])) == 3


def test_point_queues_without_queues(tiny: sim.Result) -> None:
    assert tiny.points["peak_queue"].max() == 0
    (ax,) = plots.point_queues(tiny).axes
    assert not data_lines(ax)
    assert any("No lines formed" in t.get_text() for t in ax.texts)


def test_utilisation_bars(result: sim.Result) -> None:
    (ax,) = plots.utilisation(result).axes
    labs = result.labs
    bars = ax.patches
    assert len(bars) == len(labs)
    heights = sorted(bar.get_height() for bar in bars)
    assert heights == pytest.approx(sorted(100 * labs["utilisation"]))
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "receiving",
        "plate loading",
        "extraction",
        "PCR",
        "reporting",
    ]


def test_replication_index(tiny: sim.Result) -> None:
    two = sim.run(tiny.scenario, replications=2)
    for draw in plots.FIGURES.values():
        assert isinstance(draw(two, 1), Figure)
    with pytest.raises(IndexError, match="replication index 2"):
        plots.cumulative(two, 2)


def test_figures_leave_pyplot_alone(tiny: sim.Result) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for draw in plots.FIGURES.values():
        draw(tiny)
    assert plt.get_fignums() == before


def test_save_all_writes_pngs(zhaoling: sim.Result, tmp_path: Path) -> None:
    paths = plots.save_all(zhaoling, tmp_path)
    assert [p.name for p in paths] == [f"{name}.png" for name in FIGURE_NAMES]
    for path in paths:
        assert path.parent == tmp_path / "figures"
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 10_000


# -- report.html -------------------------------------------------------------------
def test_report(result: sim.Result, tmp_path: Path) -> None:
    out = write_figures_and_report(result, tmp_path)
    assert out == tmp_path / "report.html"
    html = out.read_text(encoding="utf-8")
    s = result.summary()
    assert html.startswith("<!DOCTYPE html>")
    assert result.scenario.round.name in html
    assert f"{s['residents_swabbed']:,}" in html
    # one MET / MISSED badge per target, matching the summary
    badges = re.findall(r'<span class="badge (met|missed)">(MET|MISSED)</span>', html)
    assert [b[1] for b in badges] == ["MET" if t["met"] else "MISSED" for t in s["targets"]]
    # every figure written is on the page, and every image on the page exists
    written = sorted(
        p.relative_to(tmp_path).as_posix() for p in (tmp_path / "figures").glob("*.png")
    )
    assert len(written) == len(FIGURE_NAMES)
    # each one embedded in the page: a data: URI of the same PNG (the page needs no file)
    embedded = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert sorted(base64.b64decode(x) for x in embedded) == sorted(
        (tmp_path / p).read_bytes() for p in written
    )
    # self-contained: no scripts, nothing fetched from elsewhere
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html.lower()
    # the tables
    assert "Sampling points with the longest queues" in html
    for lab in result.scenario.labs:
        assert lab.id in html
    assert "trips per vehicle" in html


def test_report_of_an_unfinished_round(unfinished: sim.Result, tmp_path: Path) -> None:
    html = write_figures_and_report(unfinished, tmp_path).read_text(encoding="utf-8")
    assert "Unfinished at the horizon" in html
    assert html.count(">MISSED</span>") == 2
    assert ">MET</span>" not in html


def test_report_escapes_scenario_text(tiny: sim.Result, tmp_path: Path) -> None:
    scenario = tiny.scenario.with_changes({"round.name": "<script>x</script>"})
    result = sim.run(scenario)
    html = write_figures_and_report(result, tmp_path).read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_dollar_signs_are_not_mathtext(tiny: sim.Result, tmp_path: Path) -> None:
    scenario = tiny.scenario.with_changes({"round.name": "Budget $5 and $6 round"})
    result = sim.run(scenario)
    fig = plots.cumulative(result)
    fig.savefig(tmp_path / "x.png")  # would fail or garble if parsed as mathtext
    title = fig.axes[0].get_title()
    assert r"Budget \$5 and \$6 round" in title
    html = write_figures_and_report(result, tmp_path).read_text(encoding="utf-8")
    assert "Budget $5 and $6 round" in html


def test_report_of_replications_shows_the_completion_distribution(tmp_path: Path) -> None:
    many = sim.replicate(ROOT / "scenarios" / "tiny.yaml", 3, seed=1, workers=1)
    assert many.replications == 3
    html = write_figures_and_report(many, tmp_path).read_text(encoding="utf-8")
    figure = tmp_path / "figures" / "completion_distribution.png"
    assert figure.read_bytes().startswith(PNG_SIGNATURE)
    # on the page, first, with its caption; every image on the page exists
    embedded = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert base64.b64decode(embedded[0]) == figure.read_bytes()
    assert sorted(base64.b64decode(x) for x in embedded) == sorted(
        p.read_bytes() for p in (tmp_path / "figures").glob("*.png")
    )
    assert len(embedded) == len(FIGURE_NAMES) + 1
    assert "<b>When the last result comes, over all replications.</b>" in html
    assert "covers all 3 replications" in html
    # a page drawn without that figure does not speak of it
    without = render(many, ["figures/cumulative.png"])
    assert "completion_distribution" not in without
    assert "The figures and tables below show replication 0 of 3 in detail." in without
