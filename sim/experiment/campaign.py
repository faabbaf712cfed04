"""A campaign: consecutive rounds of one district, each with its own changes, with the
work a round leaves unfinished carried into the next.

A campaign file names a base scenario and its rounds::

    campaign:
      name: Zhaoling, 22 daily rounds
      scenario: zhaoling.yaml           # relative to this file
      carry_over: true                  # the default
      rounds:
        - {days: 1-3, set: {labs.henan-mobile-1.pcr.instruments: 30}}
        - {days: 4-22}
        - {day: 23, start: "08:00"}

Each entry is one round (``day``) or one a day (``days: A-B``), on that day of the
campaign (day 1 is the first) at ``start`` (default: the base round's start), with
``set`` changes in ``--set``'s dotted syntax made to the base scenario (not to the
round before).

**Carry-over.** The staff and instruments of a lab still busy with a round's tubes
when the next round starts are not free for the next round's: each run the earlier
round had under way or still to do after that moment (as it happened in the earlier
round's own run) takes its units out of the next round at those times, as a
``disruptions:`` entry of rule ``finish`` named after the round. A round's tubes are
ahead of the next round's in every lab queue (they came first), so this is the
order first come, first served gives, except that a unit the earlier round leaves idle
between two of its runs is not lent to the next round in between. Work still out at
points or on the road is not carried (rounds a day apart never leave any); the
tubes not reported by the next round's start are counted (``carried_tubes``). Each
round's own outcome (completion, targets) is its own run's.

**Random numbers.** Replication r of round k draws from the streams of seed
``seed + 1009 k`` and replication r, so a round's days differ while the same
replication of the same round is the same day in every campaign run with that seed
(common random numbers: a change to round 4 moves nothing in rounds 1-3).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..model.world import run_replication
from ..results.result import Result, tabulate
from ..scenario import Scenario, load_scenario
from ..scenario.errors import Misplaced, ScenarioError, translate
from ..scenario.loading import parse_yaml
from ..scenario.overrides import apply_changes
from ..scenario.schema import MAX_HORIZON, Clock
from ..stats import LEVEL, describe, wilson
from ..units import DAY, HOUR, format_clock

SEED_STEP = 1009  # round k's seed is seed + SEED_STEP * k


class CampaignRound(BaseModel):
    """One entry of ``rounds:``: a round (``day``) or one a day (``days: A-B``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    day: Annotated[int, Field(ge=1)] | None = None
    days: str | None = None
    start: Clock | None = None
    set: dict[str, Any] = Field(default_factory=dict)

    @field_validator("days")
    @classmethod
    def _range(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d+-\d+", str(v).strip()):
            raise ValueError("days is a range of days, e.g. 4-22")
        return v

    def day_list(self) -> list[int]:
        """The days this entry's rounds fall on."""
        if (self.day is None) == (self.days is None):
            raise ValueError("give day (one round) or days (one a day, e.g. 4-22)")
        if self.day is not None:
            return [self.day]
        first, last = (int(x) for x in str(self.days).split("-"))
        if not 1 <= first <= last:
            raise ValueError(
                f"days {self.days}: the first day is 1 or later, and not after the last"
            )
        return list(range(first, last + 1))


class CampaignSpec(BaseModel):
    """A campaign file's ``campaign:`` section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    scenario: str = Field(min_length=1)
    carry_over: bool = True
    rounds: tuple[CampaignRound, ...] = Field(min_length=1)


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    campaign: CampaignSpec


@dataclass(frozen=True)
class PlannedRound:
    """One round of the campaign: its number (1 ...), day, start and scenario."""

    number: int
    day: int
    start: float  # clock time, seconds after midnight
    scenario: Scenario

    @property
    def at(self) -> float:
        """Seconds from the campaign's day 1, midnight."""
        return (self.day - 1) * DAY + self.start


@dataclass(frozen=True)
class Campaign:
    """A campaign's rounds, in order (:func:`load_campaign`)."""

    name: str
    carry_over: bool
    rounds: tuple[PlannedRound, ...]


def load_campaign(path: str | Path) -> Campaign:
    """Read and check a campaign file: every error names the file, line and field, as a
    scenario's do; the base scenario and every round's changes are validated now."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(name, None, "", f"cannot read: {exc.strerror or exc}") from None
    data, origins = parse_yaml(text, name)
    try:
        spec = _File.model_validate(data).campaign
    except ValidationError as exc:
        raise translate(exc, origins, name, data, _File) from None
    base = load_scenario((path.parent / spec.scenario).resolve())
    rounds: list[PlannedRound] = []
    for i, entry in enumerate(spec.rounds):
        where = ("campaign", "rounds", i)
        try:
            days = entry.day_list()
        except ValueError as exc:
            raise _located(Misplaced(where, str(exc)), origins, name) from None
        start = base.round.start if entry.start is None else entry.start
        try:
            scenario = apply_changes(shifted(base, start - base.round.start), entry.set)
        except (ScenarioError, ValueError) as exc:
            raise _located(Misplaced((*where, "set"), str(exc)), origins, name) from None
        for day in days:
            rounds.append(PlannedRound(0, day, start, scenario))
    rounds.sort(key=lambda r: r.at)
    for a, b in pairwise(rounds):
        if b.at <= a.at:
            raise ScenarioError(name, None, "campaign.rounds", f"two rounds start on day {b.day} at "
                                f"{format_clock(b.start)}")  # fmt: skip
    numbered = tuple(PlannedRound(k + 1, r.day, r.start, r.scenario) for k, r in enumerate(rounds))
    return Campaign(spec.name, spec.carry_over, numbered)


def shifted(scenario: Scenario, delta: float) -> Scenario:
    """``scenario`` starting ``delta`` seconds later, every clock time with it: the round's
    start, the arrival windows, each point's own windows and the defaults', the first
    pickup, labs' openings, disruptions and the door-to-door start. (Shifts are a daily
    roster and stay as they are.) A zone table with windows of its own is refused: give
    the round's start in the base scenario."""
    if not delta:
        return scenario
    zones = scenario.demand.zones
    if len(zones) and not np.isnan(zones.open).all():
        raise ValueError("the zones have their own windows: they do not move with start")

    def clock(t: float) -> str:
        return format_clock(t + delta)

    def windows(owner: Any) -> dict[str, Any]:
        if getattr(owner, "windows", ()):
            return {"windows": [[clock(w.open), clock(w.close)] for w in owner.windows]}
        if getattr(owner, "window", None) is not None:
            return {"window": [clock(owner.window.open), clock(owner.window.close)]}
        return {}

    changes: dict[str, Any] = {"round.start": clock(scenario.round.start)}
    for key, value in windows(scenario.demand.arrivals).items():
        changes[f"demand.arrivals.{key}"] = value
    for key, value in windows(scenario.point_defaults).items():
        changes[f"point_defaults.{key}"] = value
    for point in scenario.points:
        if point.own & {"window", "windows"}:
            for key, value in windows(point).items():
                changes[f"points.{point.id}.{key}"] = value
    if scenario.transport.pickups.first is not None:
        changes["transport.pickups.first"] = clock(scenario.transport.pickups.first)
    for lab in scenario.labs:
        if lab.opens is not None:
            changes[f"labs.{lab.id}.opens"] = clock(lab.opens)
    if scenario.disruptions:
        moved = [d.model_dump(mode="json", by_alias=True) for d in scenario.disruptions]
        for entry, d in zip(moved, scenario.disruptions, strict=True):
            entry["from"] = clock(d.from_)
        changes["disruptions"] = moved
    door = scenario.door_to_door
    if door is not None and door.start is not None:
        changes["door_to_door.start"] = clock(door.start)
    return apply_changes(scenario, changes)


def _located(exc: Misplaced, origins: dict[Any, Any], name: str) -> ScenarioError:
    """A located error (file, line, field) from a path into the campaign file."""
    loc = exc.loc
    origin = None
    while loc and origin is None:  # the nearest value written in the file
        origin = origins.get(loc)
        loc = loc[:-1]
    field = ""
    for part in exc.loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    line, column = (origin[1], origin[2]) if origin else (None, None)
    return ScenarioError(origin[0] if origin else name, line, field, str(exc), column)


def carried_disruptions(
    result: Result, gap: float, label: str, rep: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """What replication ``rep`` of a round leaves to a round starting ``gap`` seconds after
    it: the ``disruptions:`` entries (relative to the next round's start, ``from`` in
    seconds after it) taking out the units still busy with its runs, and its tubes not
    reported by then."""
    sc = result.scenario
    process = sc.process
    gap_h = gap / HOUR
    part = result.parts[rep]
    tubes = part.tables["tubes"]
    reported = tubes["reported_h"].to_numpy(dtype=float)
    carried = int(np.sum(np.isnan(reported) | (reported > gap_h)))
    busy: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for kind, stages in (("bags", process.bag_stages), ("plates", process.plate_stages)):
        frame = part.tables[kind]
        if not len(frame):
            continue
        for st in stages:
            start = frame[f"{st.start}_h"].to_numpy(dtype=float)
            end = frame[f"{st.end}_h"].to_numpy(dtype=float)
            labs = frame["lab"].astype(str).to_numpy()
            server = (
                frame[st.server_column].to_numpy() if st.server_column else np.arange(len(frame))
            )
            runs = pd.DataFrame({"lab": labs, "server": server, "start": start, "end": end})
            runs = runs[~np.isnan(runs["start"])].drop_duplicates(["lab", "server", "start"])
            # a run under way at the horizon is taken to go on to the end of the next round
            runs = runs.assign(end=runs["end"].fillna(np.inf))
            runs = runs[runs["end"] > gap_h]
            for lab_id, lab_runs in runs.groupby("lab", sort=False):
                needs = sc.lab(str(lab_id)).process.step(st.name).needs
                for pool, count in needs.items():
                    busy.setdefault((str(lab_id), pool), []).extend(
                        (max(a, gap_h), b, count)
                        for a, b in zip(lab_runs["start"], lab_runs["end"], strict=True)
                    )
    # the carried entries of this round itself that last past the gap
    for d in sc.disruptions:
        if d.what not in ("sampling", "lab", "vehicle") and d.where != "*":
            a = (d.from_ - sc.round.start) / HOUR
            b = a + d.for_ / HOUR
            if b > gap_h and (d.note or "").startswith("carried from round"):
                busy.setdefault((d.where, d.what), []).append((max(a, gap_h), b, d.units or 1))
    out = []
    for (lab_id, pool), intervals in busy.items():
        for a, b, units in _levels(intervals):
            if math.isinf(b):
                b = a + MAX_HORIZON / HOUR  # to the end of the next round (its horizon cuts it)
            out.append(
                {
                    "what": pool, "where": lab_id, "from_s": (a - gap_h) * HOUR,
                    "for_s": (b - a) * HOUR, "units": units, "rule": "finish", "note": label,
                }
            )  # fmt: skip
    return out, carried


def _levels(intervals: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Overlapping (start, end, units) intervals as pieces of constant units busy (> 0)."""
    edges: dict[float, int] = {}
    for a, b, n in intervals:
        if b > a:
            edges[a] = edges.get(a, 0) + n
            edges[b] = edges.get(b, 0) - n
    out = []
    level, last = 0, None
    for t in sorted(edges):
        if last is not None and level > 0 and t > last:
            out.append((last, t, level))
        level += edges[t]
        last = t
    return out


def _with_carried(scenario: Scenario, entries: list[dict[str, Any]]) -> Scenario:
    """``scenario`` with the carried entries added to its ``disruptions:``."""
    if not entries:
        return scenario
    start = scenario.round.start
    extra = [
        {
            "what": e["what"], "where": e["where"], "from": start + round(e["from_s"]),
            "for": f"{max(round(e['for_s']), 1)}s", "units": e["units"], "rule": e["rule"],
            "note": e["note"],
        }
        for e in entries
        if e["from_s"] + start < start + scenario.round.horizon
    ]  # fmt: skip
    current = [d.model_dump(mode="json", by_alias=True) for d in scenario.disruptions]
    return apply_changes(scenario, {"disruptions": [*current, *extra]})


@dataclass
class CampaignResult:
    """A campaign's rounds over replications: ``table`` has one row per round and
    replication, :meth:`rounds` one per round (means, intervals, P(met))."""

    campaign: Campaign
    seed: int
    reps: int
    table: pd.DataFrame

    def save(self, folder: str | Path, replace: bool = False) -> Path:
        """Write the campaign's folder: tables, the figure by round, the page
        (:mod:`sim.campaign_page`, what ``natsim campaign`` writes)."""
        from ..campaign_page import write_campaign

        return write_campaign(self, folder, replace)

    def rounds(self) -> pd.DataFrame:
        """Per round: completion (mean and its t interval, p90), P(met) with its Wilson
        interval at each target, and the tubes carried over from the round before."""
        rows = []
        for number, g in self.table.groupby("round", sort=True):
            done = describe(g["completion_h"].to_numpy(dtype=float), censored=True)
            row: dict[str, Any] = {
                "round": int(number),
                "day": int(g["day"].iloc[0]),
                "start": g["start"].iloc[0],
                "replications": len(g),
                "completion_h": _float(done["mean"]),
                "completion_h_low": _float((done["ci"] or [None, None])[0]),
                "completion_h_high": _float((done["ci"] or [None, None])[1]),
                "completion_p90_h": _float(done["p90"]),
                "carried_tubes": float(g["carried_tubes"].mean()),
            }
            for column in [c for c in g.columns if c.startswith("met_")]:
                met = int(g[column].sum())
                low, high = wilson(met, len(g), LEVEL)
                label = column.removeprefix("met_")
                row[f"p_met_{label}"] = met / len(g)
                row[f"p_met_{label}_low"], row[f"p_met_{label}_high"] = low, high
            rows.append(row)
        return pd.DataFrame(rows)


def _float(value: Any) -> float:
    """A statistic as a float (NaN when unknown: one replication has no interval)."""
    return float("nan") if value is None else float(value)


def run_campaign(
    campaign: Campaign | str | Path,
    reps: int = 1,
    seed: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
) -> CampaignResult:
    """Run every round of ``campaign`` ``reps`` times, replication r of each round after
    replication r of the round before (its carry-over)."""
    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign)
    rows = []
    total, done = reps * len(campaign.rounds), 0
    for rep in range(reps):
        carried: list[dict[str, Any]] = []
        left = 0
        for k, planned in enumerate(campaign.rounds):
            scenario = (
                _with_carried(planned.scenario, carried)
                if campaign.carry_over
                else planned.scenario
            )
            round_seed = seed + SEED_STEP * k
            part = tabulate(run_replication(scenario, rep, seed=round_seed))
            result = Result(scenario, round_seed, [part])
            s = result.summary()
            row: dict[str, Any] = {
                "round": planned.number,
                "day": planned.day,
                "start": format_clock(planned.start),
                "replication": rep,
                "finished": s["finished"],
                "completion_h": np.nan if s["completion_h"] is None else s["completion_h"],
                "carried_tubes": left,
                "carried_entries": len(carried) if campaign.carry_over else 0,
            }
            for t in s["targets"]:
                row[f"met_{t['hours']:g}h"] = bool(t["met"])
            rows.append(row)
            done += 1
            if progress is not None:
                progress(done, total, f"round {planned.number}")
            if k + 1 < len(campaign.rounds):
                gap = campaign.rounds[k + 1].at - planned.at
                carried, left = carried_disruptions(
                    result, gap, f"carried from round {planned.number}"
                )
    return CampaignResult(campaign, seed, reps, pd.DataFrame(rows))
