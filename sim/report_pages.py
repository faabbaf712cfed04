"""The pages of sweeps, plans and comparisons, and rebuilding any folder's page.

Every folder natsim writes gets one self-contained ``report.html``
(:mod:`sim.report_html`: figures embedded, no file or network needed, prints
on A4), verdict first:

* a sweep (``natsim sweep``): the grid of variants, each with its last result
  (mean, 95 % interval, p90, paired difference from the first variant) and
  P(met) of every target with its Wilson interval, and ``figures/sweep.png``;
* a plan (``natsim plan``): the cheapest combination found (or that none was),
  then the evidence of every combination tried;
* a comparison (``natsim compare A B --page DIR``): what differs between the two
  scenarios, the paired differences B - A with their intervals, and which run
  is better at each target.

Each page is drawn from the folder's own files alone, so :func:`rebuild_page`
(``natsim report DIR``) draws the same page again without running anything, for
whatever kind of folder it is (a run, replications, a sweep, a plan or a
comparison; see :func:`page_kind`), drawing only the figures the folder lacks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .plots import DPI, clock, sweep_figure
from .report_html import (
    document,
    e,
    figure,
    finite,
    footer,
    hours,
    interval,
    p_cell,
    p_met,
    pct,
    table,
    verdict,
)
from .results.io import (
    LEFTOVER,
    RunFolderError,
    atomic_write,
    check_run_folder,
    manifest_basics,
    read_json,
    read_parquet,
    staged,
    to_json,
    write_parquet,
)
from .scenario import Scenario, ScenarioError

if TYPE_CHECKING:
    from .scenario.diff import Change

#: what each kind of folder is called in messages
KINDS = {
    "run": "a run",
    "reps": "a run with replications",
    "sweep": "a sweep",
    "plan": "a plan",
    "compare": "a comparison",
    "campaign": "a campaign",
}
#: settings a comparison page lists before it says how many more (as ``natsim diff``)
MAX_SHOWN_CHANGES = 40
PAGE = "report.html"


# -- reading a folder ----------------------------------------------------------------
def _json(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: not a natsim file (not a JSON object)")
    return data


def _manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / "manifest.json"
    return _json(path) if path.is_file() else None


def _scenario(folder: Path) -> Scenario:
    """The scenario a folder was run with (its ``scenario.yaml``)."""
    from .scenario import load_scenario

    path = folder / "scenario.yaml"
    if not path.is_file():
        raise RunFolderError(f"{folder}: not a complete folder (no scenario.yaml)")
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFolderError(f"{path}: cannot be read again ({first})") from None


def page_kind(folder: str | Path) -> str:
    """What ``folder`` is: ``run``, ``reps`` (a run with replications), ``sweep``, ``plan``,
    ``compare`` or ``campaign``, from the files it holds; :class:`~sim.results.io.RunFolderError`
    (one line) for a folder that is none of them complete (absent, being written, left
    by a killed run, interrupted, or without its manifest and summary)."""
    folder = Path(folder)
    if LEFTOVER.fullmatch(folder.name) or not folder.is_dir():
        check_run_folder(folder)  # says which
    if (folder / "plan.json").is_file():  # a plan has no summary.json
        if not (folder / "manifest.json").is_file():
            raise RunFolderError(f"{folder}: not a complete plan folder (no manifest.json)")
        return "plan"
    check_run_folder(folder)
    summary = _json(folder / "summary.json")
    if summary.get("kind") in ("compare", "campaign"):
        return str(summary["kind"])
    if (folder / "sweep.parquet").is_file():
        return "sweep"
    try:
        several = int(summary.get("replications") or 1) > 1
    except (TypeError, ValueError):
        raise RunFolderError(f"{folder}/summary.json: not a natsim summary") from None
    return "reps" if several else "run"


def rebuild_page(folder: str | Path) -> tuple[Path, str]:
    """Write ``folder/report.html`` again from the folder's files, whatever kind of folder
    it is, without running anything; returns the page's path and the folder's kind
    (:func:`page_kind`). Figures the folder lacks are drawn into ``figures/`` first."""
    folder = Path(folder)
    kind = page_kind(folder)
    if kind in ("run", "reps"):
        from .report import rebuild_run_page

        return rebuild_run_page(folder), kind
    if kind == "sweep":
        return write_sweep_page(folder, draw=True), kind
    if kind == "plan":
        return write_plan_page(folder), kind
    if kind == "campaign":
        from .campaign_page import rebuild_campaign_page

        return rebuild_campaign_page(folder), kind
    return write_compare_page(folder), kind


def _write(folder: Path, html: str) -> Path:
    out = folder / PAGE
    atomic_write(out, html.encode("utf-8"))
    return out


def _short(paths: Sequence[str]) -> dict[str, str]:
    """Each dotted path by its shortest ending of at least two parts that no other path
    shares ("labs.L.pcr.instruments" -> "pcr.instruments")."""
    out = {}
    for path in paths:
        parts = path.split(".")
        tail = path
        for n in range(min(2, len(parts)), len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(o != path and (o == tail or o.endswith("." + tail)) for o in paths):
                break
        out[path] = tail
    return out


def _labels(t: pd.DataFrame, paths: Sequence[str]) -> list[str]:
    """Each variant as "pcr.instruments=3, loading.staff=5" (values as the grid has them:
    a row of a numeric table would show 3 as 3.0)."""
    short = _short(paths)
    return [", ".join(f"{short[p]}={t[p].iloc[i]}" for p in paths) for i in range(len(t))]


# -- sweep -------------------------------------------------------------------------
def _targets_of(table: pd.DataFrame) -> list[float]:
    """The targets (hours) of a sweep table, from its ``p_met_<T>h`` columns."""
    out = []
    for column in table.columns:
        name = str(column)
        if name.startswith("p_met_") and name.endswith("h") and name.count("_") == 2:
            try:
                out.append(float(name[len("p_met_") : -1]))
            except ValueError:
                continue
    return out


def sweep_page(folder: str | Path, scenario: Scenario | None = None) -> str:
    """The HTML of a sweep folder's page, from its files (``summary.json``,
    ``sweep.parquet``, ``figures/sweep.png``, ``manifest.json``); ``scenario`` is the
    sweep's base scenario (default: the folder's ``scenario.yaml``)."""
    folder = Path(folder)
    summary = _json(folder / "summary.json")
    t = read_parquet(folder / "sweep.parquet")
    sc = scenario if scenario is not None else _scenario(folder)
    start = sc.round.start
    paths = [str(p) for p in (summary.get("vary") or {})]
    targets = _targets_of(t)
    reps = summary.get("replications")
    n = len(t)
    labels = _labels(t, paths)
    short = _short(paths)

    # the verdict: the earliest variant, and which variants meet each target
    parts = [f"{n} variant{'s' if n != 1 else ''} &times; {e(reps)} replications"]
    means = t["completion_h_mean"].to_numpy(dtype=float)
    if n and any(math.isfinite(m) for m in means):
        best = min((i for i in range(n) if math.isfinite(means[i])), key=lambda i: means[i])
        row = t.iloc[best]
        parts.append(
            f"earliest last result: {e(labels[best])}, mean {e(hours(row['completion_h_mean']))} h "
            f"{e(interval(row['completion_h_ci_low'], row['completion_h_ci_high']))} "
            f"({e(clock(start, float(row['completion_h_mean'])))})"
        )
    else:
        parts.append("no variant finishes every replication by the horizon")
    for hours_t in targets:
        col = f"p_met_{hours_t:g}h"
        p = t[col].to_numpy(dtype=float)
        good = [i for i in range(n) if p[i] >= 0.9]
        head = f"{hours_t:g} h target ({e(clock(start, hours_t))}): "
        if good:
            i = good[0]
            first = p_met(p[i], t[col + "_low"].iloc[i], t[col + "_high"].iloc[i])
            which = (
                f"{e(labels[i])} ({first})"
                if len(good) == 1
                else f"the first in the grid {e(labels[i])} ({first})"
            )
            parts.append(
                f'{head}<span class="p good">P(met) &ge; 0.9 in {len(good)} of {n} '
                f"variant{'s' if n != 1 else ''}</span>: {which}"
            )
        elif n:
            i = int(max(range(n), key=lambda j: (p[j], -j)))
            best_p = p_met(p[i], t[col + "_low"].iloc[i], t[col + "_high"].iloc[i])
            parts.append(
                f'{head}<span class="p bad">no variant reaches P(met) 0.9</span>; the best '
                f"{e(labels[i])} ({best_p})"
            )
    head_html = [
        f"<h1>{e(sc.round.name)} — sweep over {e(' and '.join(paths))}</h1>",
        verdict(parts, "info"),
        f'<p class="meta">seed {e(summary.get("seed"))} &middot; {e(reps)} replications per '
        "variant, the same replications in every variant (common random numbers) &middot; "
        f"round starts {e(clock(start, 0.0))} &middot; targets "
        f"{e(', '.join(f'{x:g} h' for x in targets))}</p>",
    ]

    # the grid
    header = [e(short[p]) for p in paths]
    header += ["last result, mean h [95 % CI]", "clock", "p90 h", "vs first, paired [95 % CI]",
               "finished"]  # fmt: skip
    header += [f"P(met {x:g} h) [95 % CI]" for x in targets]
    rows = []
    for i in range(n):
        row = t.iloc[i]
        diff = row["completion_h_vs_first"]
        vs = hours(diff, 2, True)
        low, high = row["completion_h_vs_first_low"], row["completion_h_vs_first_high"]
        if finite(diff) and finite(low) and finite(high):
            vs += f" {interval(low, high, 2, True)}"
        cells = [e(t[p].iloc[i]) for p in paths]
        mean = row["completion_h_mean"]
        cells += [
            e(
                f"{hours(mean)} {interval(row['completion_h_ci_low'], row['completion_h_ci_high'])}"
                if finite(mean)
                else "unfinished"
            ),
            e(clock(start, float(mean)) if finite(mean) else "--"),
            e(hours(row["completion_h_p90"])),
            e(vs),
            e(pct(row["finished_share"])),
        ]
        for x in targets:
            col = f"p_met_{x:g}h"
            cells.append(p_cell(row[col], row[col + "_low"], row[col + "_high"]))
        rows.append(cells)
    k = len(paths)
    grid = table(header, rows, numeric=tuple(range(k, len(header))))
    stages = [s for s in ("last_swab", "last_delivery", "last_pcr") if f"{s}_h_mean" in t]
    stage_rows = []
    for i in range(n):
        row = t.iloc[i]
        stage_rows.append(
            [e(t[p].iloc[i]) for p in paths]
            + [
                e(
                    f"{hours(row[f'{s}_h_mean'])} {interval(row[f'{s}_h_ci_low'], row[f'{s}_h_ci_high'])}"
                )
                for s in stages
            ]
        )
    stage_head = [e(short[p]) for p in paths] + [
        f"{s.replace('_', ' ').replace('pcr', 'PCR')} (mean h, 95 % CI)" for s in stages
    ]
    grid_html = [
        "<h2>The variants</h2>",
        "<p>Each row is one combination of the varied values, run on the same replications "
        "(the same residents, arrivals and service times in every variant). The last result "
        "is the mean over the replications with its 95 % t interval; <i>vs first</i> is the "
        "paired difference from the first variant, replication by replication; P(met) is the "
        "share of replications that met the target, with its Wilson 95 % interval.</p>",
        grid,
        "<h3>Stage completions by variant</h3>" if stages else "",
        table(stage_head, stage_rows, numeric=tuple(range(k, len(stage_head)))) if stages else "",
    ]
    data = _png(folder / "figures" / "sweep.png")
    fig_html = [
        "<h2>Figure</h2>",
        figure(
            data,
            "Completion time and P(met) by variant",
            "Left: the mean last result with its 95 % interval (the 90th percentile dotted) "
            "against the target lines; right: P(met) of each target with its Wilson 95 % "
            "interval.",
            "figures/sweep.png",
        )
        if data is not None
        else "<p>No figure in this folder (the sweep ran with --no-figures; natsim report "
        "draws it).</p>",
    ]
    files = "the grid in sweep.csv and sweep.parquet, each replication in replications.parquet"
    sections = [
        "\n".join(s for s in head_html + grid_html if s),
        "\n".join(fig_html),
    ]
    return document(f"{sc.round.name} — natsim sweep", sections, footer(_manifest(folder), files))


def _png(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write_sweep_page(
    folder: str | Path, scenario: Scenario | None = None, *, draw: bool = False
) -> Path:
    """Write a sweep folder's ``report.html`` (:func:`sweep_page`); with ``draw`` first
    draw ``figures/sweep.png`` if the folder lacks it (from ``sweep.parquet``)."""
    folder = Path(folder)
    figure_path = folder / "figures" / "sweep.png"
    if draw and not figure_path.is_file():
        summary = _json(folder / "summary.json")
        t = read_parquet(folder / "sweep.parquet")
        sc = scenario if scenario is not None else _scenario(folder)
        scenario = sc
        paths = [str(p) for p in (summary.get("vary") or {})]
        if paths and len(t):
            figure_path.parent.mkdir(exist_ok=True)
            fig = sweep_figure(t, paths, _targets_of(t), sc.round.name)
            fig.savefig(figure_path, dpi=DPI)
    return _write(folder, sweep_page(folder, scenario))


# -- plan --------------------------------------------------------------------------
def plan_page(folder: str | Path, scenario: Scenario | None = None) -> str:
    """The HTML of a plan folder's page, from its ``plan.json`` (the question, the answer,
    the method and the evidence; ``evidence.parquet`` when there) and ``manifest.json``."""
    folder = Path(folder)
    plan = _json(folder / "plan.json")
    sc = scenario if scenario is not None else _scenario(folder)
    start = sc.round.start
    target = float(plan["target_h"])
    confidence = float(plan["confidence"])
    resources = list(plan.get("resources") or [])
    paths = [str(r["path"]) for r in resources]
    evidence_path = folder / "evidence.parquet"
    evidence = (
        read_parquet(evidence_path)
        if evidence_path.is_file()
        else pd.DataFrame(plan.get("evidence") or [])
    )
    answer = plan.get("answer")
    rule = (
        "the Wilson 95 % lower bound of P(met)"
        if plan.get("rule") == "lower"
        else "the estimated P(met)"
    )
    when = f"{target:g} h target ({e(clock(start, target))})"
    if answer:
        settings = ", ".join(f"{p}={answer['values'][p]}" for p in paths if p in answer["values"])
        change = answer.get("change") or {}
        changed = ", ".join(f"{p.split('.', 1)[-1]} {int(v):+d}" for p, v in change.items())
        low, high = answer["p_met_ci"]
        parts = [
            f"Cheapest found: {e(settings)}",
            f"cost {e(format(answer['cost'], 'g'))}"
            + (f" (change: {e(changed)})" if changed else ""),
            f"{when}: {p_met(answer['p_met'], low, high)} over {e(answer['replications'])} "
            "replications",
        ]
        kind = "good"
    else:
        parts = [
            f'<span class="p bad">No combination in the ranges meets the {when} with P(met) '
            f"&ge; {e(f'{confidence:g}')}</span>",
            e(plan.get("method", "")),
        ]
        kind = "bad"
    head = [
        f"<h1>{e(sc.round.name)} — capacity plan</h1>",
        verdict(parts, kind),
        f'<p class="meta">target {e(f"{target:g}")} h ({e(clock(start, target))}) with '
        f"P(met) &ge; {e(f'{confidence:g}')}, judged on {rule} &middot; seed "
        f"{e(plan.get('seed'))} &middot; {e(plan.get('evaluations'))} combinations tried, "
        f"{e(plan.get('replications_simulated'))} replications simulated</p>",
    ]
    rows = []
    for r in resources:
        chosen = answer["values"].get(r["path"]) if answer else None
        now = r.get("current")
        rows.append(
            [
                e(r["path"]),
                e(f"{r['low']} .. {r['high']}"),
                e(f"{float(r.get('cost', 1.0)):g}"),
                e("--" if now is None else now),
                e("--" if chosen is None else chosen),
                e("--" if chosen is None or now is None else f"{int(chosen) - int(now):+d}"),
            ]
        )
    head += [
        "<h2>The combination</h2>",
        table(
            ["resource", "range searched", "cost per unit", "scenario now", "chosen", "change"],
            rows,
            numeric=(2, 3, 4, 5),
        ),
        f"<p><b>Method</b>: {e(plan.get('method', ''))}.</p>",
    ]
    if answer:
        sets = " ".join(f"--set {p}={answer['values'][p]}" for p in paths if p in answer["values"])
        check = max(int(answer["replications"]), 100)
        head.append(
            "<p>Check it with more replications (scenario.yaml is this folder's):</p>"
            f'<p class="cmd">natsim run scenario.yaml {e(sets)} --reps {check}</p>'
        )

    # the evidence
    q = [c for c in evidence.columns if str(c).startswith("completion_p")]
    header = ["#", *(e(p.split(".", 1)[-1]) for p in paths), "cost", "reps",
              "P(met) [95 % CI]", "mean h"]  # fmt: skip
    header += [e(str(q[0]).removeprefix("completion_").removesuffix("_h") + " h")] if q else []
    header += ["verdict", "why"]
    chosen_values = [answer["values"].get(p) for p in paths] if answer else None
    ev_rows, classes = [], []
    marked = False
    for i in range(len(evidence)):
        row = evidence.iloc[i]
        values = [row[p] for p in paths]
        cells = [e(row["step"]), *(e(v) for v in values), e(f"{float(row['cost']):g}"),
                 e(row["replications"])]  # fmt: skip
        cells.append(p_cell(row["p_met"], row["p_met_low"], row["p_met_high"]))
        cells.append(e(hours(row["completion_mean_h"])))
        if q:
            cells.append(e(hours(row[q[0]])))
        cells += [e(row["verdict"]), e(row["why"])]
        ev_rows.append(cells)
        is_chosen = (
            not marked
            and chosen_values is not None
            and [int(v) for v in values] == [int(v) for v in chosen_values]
        )
        marked = marked or is_chosen
        classes.append("chosen" if is_chosen else "")
    evidence_html = [
        "<h2>The evidence</h2>",
        f"<p>Every combination tried, in order, each judged on replications 0 .. n-1 of the "
        f"same seed (common random numbers); the chosen one is highlighted. A combination "
        f"meets the target when {rule} reaches {e(f'{confidence:g}')}.</p>",
        table(header, ev_rows, numeric=tuple(range(len(header) - 2)), row_classes=classes),
    ]
    files = "the answer in plan.json, every combination tried in evidence.csv"
    sections = ["\n".join(head), "\n".join(evidence_html)]
    return document(f"{sc.round.name} — natsim plan", sections, footer(_manifest(folder), files))


def write_plan_page(folder: str | Path, scenario: Scenario | None = None) -> Path:
    """Write a plan folder's ``report.html`` (:func:`plan_page`)."""
    folder = Path(folder)
    return _write(folder, plan_page(folder, scenario))


# -- compare -----------------------------------------------------------------------
def _side(path: Path) -> dict[str, Any]:
    """What a compared run folder is: its path, scenario, seed, replications, when."""
    out: dict[str, Any] = {"folder": str(path)}
    try:
        summary = _json(path / "summary.json")
        manifest = _json(path / "manifest.json")
    except RunFolderError:
        return out
    out.update(
        {
            "scenario": summary.get("scenario", manifest.get("scenario")),
            "seed": summary.get("seed", manifest.get("seed")),
            "replications": summary.get("replications", manifest.get("replications", 1)),
            "written": manifest.get("written"),
        }
    )
    return out


def compare_summary(
    table: pd.DataFrame, changes: Sequence[Change], a: str | Path, b: str | Path
) -> dict[str, Any]:
    """What ``summary.json`` of a comparison folder holds: the two runs, the table of
    differences B - A (:func:`sim.experiment.compare.compare`), the verdict at each target
    and what differs between the two scenarios (:func:`sim.scenario.diff.scenario_diff`)."""
    from .experiment.compare import target_verdicts

    sides = {"A": _side(Path(a)), "B": _side(Path(b))}
    names = [str(sides[x].get("scenario") or sides[x]["folder"]) for x in ("A", "B")]
    return {
        "kind": "compare",
        "scenario": names[0] if names[0] == names[1] else f"{names[0]} vs {names[1]}",
        "A": sides["A"],
        "B": sides["B"],
        "paired": bool(table["paired"].all()) if len(table) else False,
        "pairs": int(table["n"].max()) if len(table) else 0,
        "level": float(table.attrs.get("level", 0.95)),
        "rows": table.to_dict("records"),
        "verdicts": [list(v) for v in target_verdicts(table)] if len(table) else [],
        "changes": [c.describe() for c in changes],
    }


def _kpi_label(kpi: str) -> str:
    if kpi.startswith("met_"):
        return f"P(met {kpi[4:-1]} h)"
    if kpi.startswith("share_reported_"):
        return f"% reported by {kpi[len('share_reported_') : -1]} h"
    if kpi == "completion_h":
        return "last result (h)"
    return kpi.removesuffix("_h").replace("_", " ") + " (h)"


def _scaler(scale: float) -> Any:
    def scaled(value: Any) -> float | None:
        return float(value) * scale if finite(value) else None

    return scaled


def compare_page(folder: str | Path) -> str:
    """The HTML of a comparison folder's page, from its ``summary.json``."""
    folder = Path(folder)
    s = _json(folder / "summary.json")
    a, b = s.get("A") or {}, s.get("B") or {}
    rows_in = list(s.get("rows") or [])
    paired = bool(s.get("paired"))
    pairs = s.get("pairs")
    how = (
        f"paired replication by replication ({e(pairs)} pairs, same seed: common random numbers)"
        if paired
        else f"as independent samples (different seeds; up to {e(pairs)} replications each)"
    )
    parts = []
    done = next((r for r in rows_in if r.get("kpi") == "completion_h"), None)
    if done is not None and finite(done.get("difference")):
        better = done.get("better")
        word = {"A": "A is earlier", "B": "B is earlier"}.get(str(better), "no clear difference")
        parts.append(
            f"Last result B &minus; A: {e(hours(done['difference'], 2, True))} h "
            f"{e(interval(done.get('ci_low'), done.get('ci_high'), 2, True))} ({e(word)})"
        )
    for _, winner, sentence in s.get("verdicts") or []:
        cls = "good" if winner in ("A", "B") else "fair"
        parts.append(f'<span class="p {cls}">{e(sentence)}</span>')
    head = [
        f"<h1>Comparison: {e(s.get('scenario', ''))}</h1>",
        verdict(parts or ["nothing to compare"], "info"),
        f'<p class="meta">B &minus; A, compared {how}; 95 % intervals</p>',
    ]
    side_rows = []
    for name, side in (("A", a), ("B", b)):
        side_rows.append(
            [
                f"<b>{name}</b>",
                e(side.get("folder", "")),
                e(side.get("scenario", "--")),
                e(side.get("seed", "--")),
                e(side.get("replications", "--")),
                e(str(side.get("written") or "--").replace("T", " ")),
            ]
        )
    head.append(
        table(
            ["", "run folder", "scenario", "seed", "replications", "written"],
            side_rows,
            numeric=(3, 4),
        )
    )
    changes = list(s.get("changes") or [])
    head.append("<h2>What differs (A &rarr; B)</h2>")
    if changes:
        items = "".join(f"<li><code>{e(c)}</code></li>" for c in changes[:MAX_SHOWN_CHANGES])
        more = len(changes) - MAX_SHOWN_CHANGES
        head.append(
            f"<p>{len(changes):,} setting{' differs' if len(changes) == 1 else 's differ'}:</p>"
            f'<ul class="changes">{items}</ul>'
            + (f"<p>... and {more:,} more.</p>" if more > 0 else "")
        )
    else:
        head.append(
            "<p>The two scenarios are the same: any difference below comes from the seeds "
            "or the replications.</p>"
        )
    rows = []
    for r in rows_in:
        kpi = str(r.get("kpi"))
        share = kpi.startswith("share_reported_")
        scale, digits = (100.0, 1) if share else (1.0, 2)
        scaled = _scaler(scale)
        rows.append(
            [
                e(_kpi_label(kpi)),
                e(hours(scaled(r.get("a")), digits)),
                e(hours(scaled(r.get("b")), digits)),
                e(hours(scaled(r.get("difference")), digits, True)),
                e(interval(scaled(r.get("ci_low")), scaled(r.get("ci_high")), digits, True)),
                e(r.get("n")),
                f"<b>{e(r.get('better'))}</b>" if r.get("better") in ("A", "B")
                else e(r.get("better")),
            ]
        )  # fmt: skip
    head += [
        "<h2>Differences B &minus; A</h2>",
        "<p>Each KPI of A and of B (means over the replications), the difference B &minus; A "
        "with its 95 % interval, and the better run where the interval excludes zero in its "
        "favour (earlier, higher P(met), more reported by a target).</p>",
        table(
            ["KPI", "A", "B", "B &minus; A", "95 % CI", "n", "better"],
            rows,
            numeric=(1, 2, 3, 4, 5),
        ),
    ]
    files = "the differences in summary.json and tables/comparison.parquet"
    return document(
        f"Comparison: {s.get('scenario', '')} — natsim", ["\n".join(head)],
        footer(_manifest(folder), files),
    )  # fmt: skip


def write_compare_page(folder: str | Path) -> Path:
    """Write a comparison folder's ``report.html`` (:func:`compare_page`)."""
    folder = Path(folder)
    return _write(folder, compare_page(folder))


def write_compare(
    folder: str | Path,
    table: pd.DataFrame,
    changes: Sequence[Change],
    a: str | Path,
    b: str | Path,
    command: str | None = None,
    *,
    replace: bool = False,
) -> Path:
    """Write a comparison folder, complete or not at all (:func:`~sim.results.io.staged`):
    ``summary.json`` (:func:`compare_summary`), ``tables/comparison.parquet``,
    ``manifest.json`` and ``report.html``; ``replace`` replaces an earlier natsim folder."""
    summary = compare_summary(table, changes, a, b)
    with staged(folder, replace) as tmp:
        (tmp / "tables").mkdir()
        frame = pd.DataFrame(table).reset_index(drop=True)
        frame.attrs = {}
        frame["target"] = frame["target"].astype(object).where(frame["target"].notna(), None)
        write_parquet(frame, tmp / "tables" / "comparison.parquet")
        atomic_write(tmp / "summary.json", to_json(summary).encode())
        record = {
            **manifest_basics(command),
            "kind": "compare",
            "scenario": summary["scenario"],
            "A": str(a),
            "B": str(b),
        }
        atomic_write(tmp / "manifest.json", to_json(record).encode())
        write_compare_page(tmp)
    return Path(folder)
