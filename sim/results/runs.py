"""The run index: every run folder under a directory, a row each (``natsim runs``, ``sim.runs``).

A planner who has made a dozen runs in a morning asks which one met 14 h, and what
was changed in it. Each complete run folder (``manifest.json`` and ``summary.json``)
gives: when it was written, its scenario and seed, its replications, the last
result (the mean over replications), and each target's verdict. For one
replication the verdict is met or not (1 or 0); for several, P(met). It also gives
what was changed from the scenario file: the command's ``--set`` and ``--seed``
options, as the manifest recorded them. Folders that are not complete runs (being
written, interrupted, or corrupt) are listed as such, never skipped quietly.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pandas as pd

from .io import LEFTOVER, STORE, RunFolderError, check_run_folder, read_json

SORTS = ("written", "completion", "scenario", "folder")
_CHANGING = ("--set", "--seed", "--deterministic", "--reps", "--vary")


def _changes(command: str) -> str:
    """The options of a recorded command that change the scenario or how it is run."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    out = []
    for i, word in enumerate(words):
        if word in _CHANGING:
            value = words[i + 1] if i + 1 < len(words) and word != "--deterministic" else ""
            out.append(f"{word} {value}".strip())
    return " ".join(out)


def _row(folder: Path, root: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"folder": str(folder.relative_to(root)) if folder != root else "."}
    try:
        check_run_folder(folder)
        manifest = read_json(folder / "manifest.json")
        summary = read_json(folder / "summary.json")
    except RunFolderError as exc:
        return {**row, "status": str(exc).split(": ", 1)[-1]}
    row.update(
        {
            "status": "complete",
            "kind": summary.get("kind") or manifest.get("kind") or "run",
            "written": manifest.get("written"),
            "scenario": summary.get("scenario", manifest.get("scenario")),
            "seed": summary.get("seed", manifest.get("seed")),
            "replications": summary.get("replications", manifest.get("replications", 1)),
            "completion_h": summary.get("completion_h"),
            "changes": _changes(str(manifest.get("command", ""))),
        }
    )
    for target in summary.get("targets") or []:
        label = f"{target['hours']:g}h"
        if "p_met" in target:
            row[f"met_{label}"] = float(target["p_met"])
        elif "met" in target:
            row[f"met_{label}"] = 1.0 if target["met"] else 0.0
    return row


def run_index(root: str | Path = "runs", sort: str = "written") -> pd.DataFrame:
    """Every run folder in ``root`` (and one level below), a row each, sorted by ``sort``
    (``written`` newest first, ``completion`` fastest first, ``scenario``, ``folder``)."""
    if sort not in SORTS:
        raise ValueError(f"sort by one of {', '.join(SORTS)}, not '{sort}'")
    base = Path(root)
    if not base.is_dir():
        raise RunFolderError(f"{base}: no such folder")
    found = {*base.glob("*/manifest.json"), *base.glob("*/*/manifest.json")}
    folders = sorted({p.parent for p in found} | _half_written(base))
    rows = [_row(folder, base) for folder in folders]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["folder", "status", "written", "scenario", "completion_h"])
    for column in ("seed", "replications"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    if sort == "written":
        frame = frame.sort_values("written", ascending=False, na_position="last", kind="stable")
    elif sort == "completion":
        frame = frame.sort_values("completion_h", na_position="last", kind="stable")
    else:
        frame = frame.sort_values(sort, kind="stable")
    return frame.reset_index(drop=True)


def _half_written(base: Path) -> set[Path]:
    """Folders a run is writing, or a killed run left, and interrupted runs (a store
    without a summary): listed so that nothing is hidden."""
    return {
        p
        for p in base.iterdir()
        if p.is_dir() and (LEFTOVER.fullmatch(p.name) or (p / STORE).is_dir())
    }
