"""The pages natsim writes (``report.html`` of a run, a run with replications, a sweep, a
plan and a comparison), as a planner opens them: the page alone, copied away from its
folder, in a real (headless) browser; and ``natsim report DIR`` drawing the same page
again from the folder, without running anything.

The browser is Chromium (``chromium``; ``.ci/run`` installs it). Without it the
browser tests are skipped on a developer's machine, and fail in CI.
"""

from __future__ import annotations

import base64
import html as markup
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from sim.cli import app
from sim.plots import FIGURES, clock

from .conftest import SCENARIOS

TINY = str(SCENARIOS / "tiny.yaml")
KINDS = ("run", "reps", "sweep", "plan", "compare")
#: how many figures each page embeds
FIGURE_COUNT = {"run": len(FIGURES), "reps": len(FIGURES) + 1, "sweep": 1, "plan": 0,
                "compare": 0}  # fmt: skip
NAMES = {"run": "a run", "reps": "a run with replications", "sweep": "a sweep",
         "plan": "a plan", "compare": "a comparison"}  # fmt: skip
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
START = 7 * 3600.0  # the tiny round starts at 07:00


def cli(*args: str | Path) -> str:
    got = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert got.exit_code == 0, got.output
    return got.output


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder of each kind, written by the command line as a planner runs it."""
    root = tmp_path_factory.mktemp("pages")
    out = {kind: root / kind for kind in KINDS}
    cli("run", TINY, "-o", out["run"], "--workers", "1")  # levers measured: the tiny is quick
    cli("run", TINY, "--reps", "3", "--workers", "1", "--no-levers", "-o", out["reps"])
    # a shorter PCR run brings the last result (4.4 h) before the 4 h target
    cli("sweep", TINY, "--vary", "labs.L.pcr.run=45min,75min", "--reps", "2", "--workers", "1",
        "-o", out["sweep"])  # fmt: skip
    cli("plan", TINY, "--target", "6h", "--resource", "labs.L.pcr.instruments=1..2",
        "--reps", "2", "--rule", "point", "--workers", "1", "-o", out["plan"])  # fmt: skip
    faster = root / "faster"
    cli("run", TINY, "--set", "labs.L.pcr.run=45min", "--reps", "3", "--workers", "1",
        "--no-levers", "--no-figures", "-o", faster)  # fmt: skip
    cli("compare", out["reps"], faster, "--page", out["compare"])
    return out


def page(folders: dict[str, Path], kind: str) -> str:
    return (folders[kind] / "report.html").read_text(encoding="utf-8")


def the_verdict(html: str) -> str:
    """The text of the verdict line (tags removed)."""
    found = re.search(r'<p class="verdict [a-z]+" id="verdict">(.*?)</p>', html, re.S)
    assert found, "no verdict line"
    return markup.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))))


# -- one file, nothing fetched ---------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_each_page_is_one_self_contained_file(folders: dict[str, Path], kind: str) -> None:
    html = page(folders, kind)
    assert html.startswith("<!DOCTYPE html>")
    lower = html.lower()
    for never in ("<script", "<link", "@import", "url(", "<iframe", "<object", "<embed"):
        assert never not in lower, never
    # every address on the page is a data: URI (no file beside it, no network)
    addresses = re.findall(r'\b(?:src|href|srcset|poster|data)\s*=\s*"([^"]*)"', html, re.I)
    assert all(a.startswith("data:") for a in addresses), [a[:40] for a in addresses]
    # every picture is a PNG that decodes, as many as the kind of page has
    images = re.findall(r"<img\b[^>]*>", html)
    assert len(images) == FIGURE_COUNT[kind]
    for tag in images:
        src = re.search(r'src="data:image/png;base64,([^"]+)"', tag)
        assert src, tag[:80]
        picture = Image.open(io.BytesIO(base64.b64decode(src.group(1), validate=True)))
        picture.load()
        assert picture.format == "PNG" and picture.width >= 600 and picture.height >= 300
        width = re.search(r'width="(\d+)"', tag)
        assert width and int(width.group(1)) == picture.width
    # the figures are still kept as files in the folder
    for name in ("sweep",) if kind == "sweep" else (FIGURES if kind in ("run", "reps") else ()):
        assert (folders[kind] / "figures" / f"{name}.png").is_file()


@pytest.mark.parametrize("kind", KINDS)
def test_each_page_prints_on_a4_with_a_sheet_per_section(
    folders: dict[str, Path], kind: str
) -> None:
    html = page(folders, kind)
    css = re.search(r"<style>(.*?)</style>", html, re.S)
    assert css
    style = css.group(1)
    assert re.search(r"@page\s*{\s*size:\s*A4", style)
    printed = style[style.index("@media print") :]
    assert "section + section { break-before: page; }" in printed
    assert "thead { display: table-header-group; }" in printed  # headers repeat on each sheet
    assert re.search(r"tr[^{]*{[^}]*break-inside: avoid", printed)  # no row cut in two
    assert "figure img { width: 100%;" in printed  # figures scaled to the paper
    # the verdict comes first: right after the title, before any section heading
    assert html.index('id="verdict"') < html.index("<h2")
    assert html.index("<h1>") < html.index('id="verdict"')


# -- the verdict and what the page says, from the folder's own numbers ----------------
def test_a_run_page_says_met_or_missed_at_every_target_first(folders: dict[str, Path]) -> None:
    summary = json.loads((folders["run"] / "summary.json").read_text())
    said = the_verdict(page(folders, "run"))
    done = summary["completion_h"]
    assert said.startswith(f"Last result {clock(START, done)} ({done:.1f} h)")
    for t in summary["targets"]:
        word = "MET" if t["met"] else "MISSED"
        assert f"{t['hours']:g} h target ({t['clock']}) {word}" in said
    assert "4 h target (11:00) MISSED" in said and "6 h target (13:00) MET" in said


def test_a_page_of_replications_leads_with_the_distribution(folders: dict[str, Path]) -> None:
    summary = json.loads((folders["reps"] / "summary.json").read_text())
    html = page(folders, "reps")
    said = the_verdict(html)
    c = summary["completion"]
    assert said.startswith(
        f"Over 3 replications: last result median {clock(START, c['p50'])} ({c['p50']:.1f} h), "
        f"p90 {clock(START, c['p90'])} ({c['p90']:.1f} h)"
    )
    for t in summary["targets"]:
        low, high = t["p_met_ci"]  # Wilson, as summary() gives it
        assert f"{t['hours']:g} h target ({t['clock']}): P(met) {t['p_met']:.2f} " in said
        assert f"[{low:.2f}, {high:.2f}]" in said
    # the distribution over the replications is the first figure, in the headline
    first = html.index("<img")
    assert html.index("When the last result comes, over all replications") > first
    assert first < html.index("Replication 0 of 3 in detail")


def test_a_sweep_page_shows_the_grid_with_its_intervals(folders: dict[str, Path]) -> None:
    grid = pd.read_parquet(folders["sweep"] / "sweep.parquet")
    html = page(folders, "sweep")
    said = the_verdict(html)
    assert said.startswith("2 variants × 2 replications")
    faster = grid[grid["labs.L.pcr.run"] == "45min"].iloc[0]
    assert faster["p_met_4h"] == 1.0  # the shorter PCR run meets the 4 h target
    assert "4 h target (11:00): P(met) ≥ 0.9 in 1 of 2 variants: pcr.run=45min" in said
    for i in range(len(grid)):
        row = grid.iloc[i]
        assert f"<td>{row['labs.L.pcr.run']}</td>" in html
        assert f"{row['completion_h_mean']:.2f}" in html
        for hours in (4, 6):
            cell = (
                f">{row[f'p_met_{hours}h']:.2f}</span> [{row[f'p_met_{hours}h_low']:.2f}, "
                f"{row[f'p_met_{hours}h_high']:.2f}]"
            )
            assert cell in html
    assert "Completion time and P(met) by variant" in html


def test_a_plan_page_gives_the_chosen_combination_then_the_evidence(
    folders: dict[str, Path],
) -> None:
    plan = json.loads((folders["plan"] / "plan.json").read_text())
    html = page(folders, "plan")
    said = the_verdict(html)
    assert plan["found"]
    value = plan["answer"]["values"]["labs.L.pcr.instruments"]
    assert said.startswith(f"Cheapest found: labs.L.pcr.instruments={value}")
    assert f"6 h target (13:00): P(met) {plan['answer']['p_met']:.2f}" in said
    evidence = pd.read_csv(folders["plan"] / "evidence.csv")
    body = html[html.index("The evidence") :]
    assert body.count("<tr") == len(evidence) + 1  # the header and a row per combination
    assert body.count('<tr class="chosen">') == 1
    assert html.index('id="verdict"') < html.index("The evidence")


def test_a_comparison_page_gives_the_diff_and_the_paired_differences(
    folders: dict[str, Path],
) -> None:
    summary = json.loads((folders["compare"] / "summary.json").read_text())
    html = page(folders, "compare")
    said = the_verdict(html)
    done = next(r for r in summary["rows"] if r["kpi"] == "completion_h")
    assert summary["paired"] and done["difference"] == pytest.approx(-0.5)
    assert said.startswith(
        f"Last result B − A: {done['difference']:+.2f} h "
        f"[{done['ci_low']:+.2f}, {done['ci_high']:+.2f}] (B is earlier)"
    )
    assert "4 h: B is better: P(met) 0.00 -> 1.00" in said
    assert "6 h: no clear difference" in said
    assert "compared paired replication by replication (3 pairs" in html
    assert "<code>labs.L.pcr.run.value: 1h15min -&gt; 45min</code>" in html
    assert "1 setting differs" in html
    rows = html[html.index("Differences B") :].count("<tr")
    assert rows == len(summary["rows"]) + 1 and len(summary["rows"]) == 9


# -- in a real browser, the page alone ---------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed here (apt-get install chromium): no browser checks")
    yield CHROMIUM


def shoot(chromium: str, html: Path, out: Path, *extra: str) -> None:
    profile = out.parent / f"profile-{out.stem}"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--hide-scrollbars", *extra, html.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("kind", KINDS)
def test_each_page_renders_alone_in_a_browser(
    folders: dict[str, Path], kind: str, browser: str, tmp_path: Path
) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(folders[kind] / "report.html", alone / "report.html")
    assert [p.name for p in alone.iterdir()] == ["report.html"]
    shot = tmp_path / f"{kind}.png"
    shoot(browser, alone / "report.html", shot, "--window-size=1200,3000", f"--screenshot={shot}")
    picture = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    assert picture.shape == (3000, 1200, 3)
    dark = int((picture.sum(axis=2) < 300).sum())  # text, lines, bars
    assert dark > 5_000, f"the {kind} page looks blank ({dark} dark pixels)"
    if FIGURE_COUNT[kind]:
        # the figures are drawn: matplotlib's blue (C0) and green (C2) lines are on screen
        drawn = sum(
            int((np.abs(picture - np.array(colour)).max(axis=2) <= 12).sum())
            for colour in ((31, 119, 180), (44, 160, 44))
        )
        assert drawn > 400, f"no figure drawn on the {kind} page ({drawn} pixels)"
    # printed, it is A4, a sheet or more per section
    pdf = tmp_path / f"{kind}.pdf"
    shoot(browser, alone / "report.html", pdf, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes()
    boxes = re.findall(rb"/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]", data)
    assert boxes and all(abs(float(w) - 595.3) < 2 and abs(float(h) - 841.9) < 2 for w, h in boxes)
    sections = page(folders, kind).count("<section>")
    assert len(boxes) >= sections


# -- natsim report DIR -------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_natsim_report_draws_the_same_page_again(folders: dict[str, Path], kind: str) -> None:
    folder = folders[kind]
    before = (folder / "report.html").read_bytes()
    (folder / "report.html").unlink()
    lost = folder / "figures" / "cumulative.png"
    picture = lost.read_bytes() if kind == "run" else None
    if kind == "run":
        lost.unlink()  # a figure the folder lacks is drawn again
    said = cli("report", folder)
    assert said.strip() == f"wrote {folder / 'report.html'} (the page of {NAMES[kind]})"
    assert (folder / "report.html").read_bytes() == before
    if picture is not None:
        assert lost.read_bytes() == picture


def test_natsim_report_refuses_a_folder_that_is_not_complete_in_one_line(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    interrupted = tmp_path / "interrupted"
    (interrupted / "replications").mkdir(parents=True)
    partial = tmp_path / ".run.partial-4242"
    shutil.copytree(folders["run"], partial)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(folders["run"], corrupt)
    (corrupt / "summary.json").write_text("{not json")
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("hello")
    cases = {
        tmp_path / "absent": "not a run folder (no such folder)",
        stray: "not a complete run folder (no manifest.json)",
        interrupted: "an interrupted run; --resume --out",
        partial: "a temporary name",
        corrupt: "corrupt JSON",
    }
    for folder, why in cases.items():
        got = CliRunner().invoke(app, ["report", str(folder)], env={"COLUMNS": "300"})
        assert got.exit_code == 2, (folder, got.output)
        lines = got.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and why in lines[0], lines
        assert "Traceback" not in got.output


def test_compare_page_refuses_a_used_folder_or_a_compared_run(folders: dict[str, Path]) -> None:
    again = ["compare", str(folders["reps"]), str(folders["run"])]
    for page, why in (
        (folders["compare"], "exists and is not empty: --force replaces it"),
        (folders["reps"], "is one of the runs compared"),
    ):
        got = CliRunner().invoke(app, [*again, "--page", str(page)], env={"COLUMNS": "300"})
        assert got.exit_code == 2, got.output
        lines = [line for line in got.output.strip().splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and why in lines[0], got.output
    assert (folders["reps"] / "summary.json").is_file()  # the compared run is untouched
