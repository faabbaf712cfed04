"""The follow-up of positive pooled tubes: response teams re-swab the members, one tube each.

A lab reporting a plate tells this service (:meth:`Followup.reported`); each
recalled tube on it (a positive pooled tube, :mod:`sim.model.positives`)
becomes a recall ``notify_after`` later. Recalls wait for a free team in one
first-come-first-served queue (ties: the lower tube number). A team drives
from where it is — the base point at first, then the point of its last recall
(or, without a base, it starts at the point it is sent to) — and swabs the
members one after another. The single tubes then go by their own courier,
straight to the lab that tested the pooled tube (or wait at the point for the
route's next trip, ``carry: next_trip``), and are reported
``lab_turnaround`` after they arrive, on capacity kept for them. Teams are the
only shared resource here: couriers and the kept capacity are not limited, and
drives have no noise (stated in docs/model.md, *Positives*).

Everything the team does is an event of the round's loop, so a recall waits
behind the ones before it; the courier and the lab's answer follow by
arithmetic, since nothing else waits for them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..scenario.schema import Followup as FollowupSpec
from ..scenario.schema import Scenario
from .engine import Engine
from .ledger import Bag, Plate
from .positives import TubeReads
from .transport import TravelTimes

H = 3600.0


@dataclass
class Recall:
    """One positive pooled tube's follow-up (times in seconds from the round's start)."""

    tube: int
    point: int
    lab: int
    members: int
    pooled_result: float
    notified: float
    team: int = -1
    team_set_off: float = np.nan
    team_arrived: float = np.nan
    reswabbed: float = np.nan
    delivered: float = np.nan
    pcr_start: float = np.nan  # lab: first (the kept capacity has no stages to show)
    reported: float = np.nan


class SingleTubes(Bag):
    """A recall's single tubes on their way through a lab's bag stages (``lab: first``):
    urgent, so every stage takes them before screening work. Not a screening bag: the
    ledger does not keep it, and its tube numbers lie past the screening tubes."""

    __slots__ = ("recall",)
    urgent = True
    recall: Recall

    @staticmethod
    def plate_of(bags: list[Any]) -> SinglePlate:
        """The plate the single tubes of these recalls make together (a lab loads the
        recalls waiting when a loader is free, as many as a plate holds)."""
        ranges = [(bag.lo, bag.hi) for bag in bags]
        plate = SinglePlate(-1, bags[0].lab, ranges, sum(hi - lo for lo, hi in ranges))
        plate.recalls = [bag.recall for bag in bags]
        return plate


class SinglePlate(Plate):
    """A plate of recalls' single tubes, ahead of every screening plate."""

    __slots__ = ("recalls",)
    urgent = True
    recalls: list[Recall]


@dataclass
class Team:
    index: int
    place: str | None  # where it is: a point id (None: not placed yet)
    busy: bool = False


@dataclass
class Followup:
    """The response teams of one round and the recalls they work through."""

    engine: Engine
    scenario: Scenario
    reads: TubeReads
    tube_point: np.ndarray
    spec: FollowupSpec
    travel: TravelTimes = field(init=False)
    teams: list[Team] = field(init=False)
    labs: list[Any] = field(default_factory=list)  # the round's LabService objects, by index
    stocks: list[Any] = field(default_factory=list)  # the points' PointStock (carry: next_trip)
    routes: list[Any] = field(default_factory=list)  # the RouteService of each route
    queue: deque[Recall] = field(default_factory=deque)
    recalls: list[Recall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.travel = TravelTimes(self.scenario)
        self.teams = [Team(i, self.spec.base) for i in range(self.spec.teams)]
        self._recalled = self.reads.singles > 0
        self._next_tube = int(self.reads.singles.size)  # single tubes numbered after screening
        for lab in self.labs:
            lab.on_report = self.reported
            lab.on_single = self._single_reported
        self._route_of: dict[int, Any] = {}
        if self.spec.carry == "next_trip":
            for route in self.routes:
                route.on_urgent = self._carried
                # what a trip finds at a point is no longer known when it sets out
                route.alone = False
                for stock in route.stocks:
                    self._route_of.setdefault(stock.index, route)

    def reported(self, lab: int, ranges: list[tuple[int, int]]) -> None:
        """A lab reported a plate holding tube ``ranges``: recall its positive pooled tubes."""
        now = self.engine.env.now
        for lo, hi in ranges:
            for tube in lo + np.flatnonzero(self._recalled[lo:hi]):
                recall = Recall(
                    int(tube), int(self.tube_point[tube]), lab, int(self.reads.singles[tube]),
                    now, now + self.spec.notify_after,
                )  # fmt: skip
                self.recalls.append(recall)
                self.engine.at(self.spec.notify_after, self._notified, recall)

    def _notified(self, recall: Recall) -> None:
        self.queue.append(recall)
        self._assign()

    def _assign(self) -> None:
        """Free teams take the oldest recalls."""
        points = self.scenario.points
        for team in self.teams:
            if not self.queue:
                return
            if team.busy:
                continue
            recall = self.queue.popleft()
            there = points[recall.point].id
            drive = 0.0 if team.place is None else self.travel.base(team.place, there)
            now = self.engine.env.now
            team.busy = True
            recall.team = team.index
            recall.team_set_off = now
            recall.team_arrived = now + drive
            swab = recall.members * self.spec.per_person
            self.engine.at(drive + swab, self._reswabbed, team, recall)

    def _reswabbed(self, team: Team, recall: Recall) -> None:
        """The members are swabbed: the courier and the kept capacity give the result."""
        now = self.engine.env.now
        there = self.scenario.points[recall.point].id
        team.place, team.busy = there, False
        recall.reswabbed = now
        if self.spec.carry == "next_trip":  # they wait at the point for a vehicle
            self.stocks[recall.point].urgent.append((now, recall))
            self._route_of[recall.point].decide()
            self._assign()
            return
        lab = self.scenario.labs[recall.lab].id
        drive = self.travel.base(there, lab)
        if self.spec.lab == "kept":
            recall.delivered = now + drive
            recall.reported = recall.delivered + float(self.spec.lab_turnaround or 0.0)
        else:  # through the lab's own stages, ahead of screening
            self.engine.at(drive, self._at_lab, recall)
        self._assign()

    def _carried(self, recall: Recall, lab: int) -> None:
        """A trip delivered the recall's single tubes to ``lab`` (carry: next_trip)."""
        recall.lab = lab
        if self.spec.lab == "kept":
            recall.delivered = self.engine.env.now
            recall.reported = recall.delivered + float(self.spec.lab_turnaround or 0.0)
        else:
            self._at_lab(recall)

    def _at_lab(self, recall: Recall) -> None:
        now = self.engine.env.now
        recall.delivered = now
        lo = self._next_tube
        self._next_tube += recall.members
        bag = SingleTubes(-1, recall.lab, recall.point, lo, lo + recall.members, now)
        bag.recall = recall
        self.labs[recall.lab].deliver_urgent(bag)

    def _single_reported(self, plate: Plate) -> None:
        assert isinstance(plate, SinglePlate)
        for recall in plate.recalls:
            recall.pcr_start = float(plate.times[self.labs[plate.lab].pcr_slot])
            recall.reported = self.engine.env.now

    def table(self, replication: int) -> pd.DataFrame:
        """One row per recall, in hours from the start; times past the horizon are NaN."""
        horizon = self.scenario.round.horizon

        def hours(t: float) -> float:
            return t / H if t <= horizon else np.nan

        rows: list[dict[str, Any]] = []
        for r in sorted(self.recalls, key=lambda r: (r.pooled_result, r.tube)):
            rows.append(
                {
                    "replication": replication,
                    "tube": r.tube,
                    "point": self.scenario.points[r.point].id,
                    "lab": self.scenario.labs[r.lab].id,
                    "members": r.members,
                    "confirmed": int(self.reads.confirmed[r.tube]),
                    "pooled_result_h": hours(r.pooled_result),
                    "notified_h": hours(r.notified),
                    "team": r.team,
                    "team_set_off_h": hours(r.team_set_off),
                    "team_arrived_h": hours(r.team_arrived),
                    "reswabbed_h": hours(r.reswabbed),
                    "delivered_h": hours(r.delivered),
                    "pcr_start_h": hours(r.pcr_start),
                    "reported_h": hours(r.reported),
                }
            )
        columns = [
            "replication", "tube", "point", "lab", "members", "confirmed", "pooled_result_h",
            "notified_h", "team", "team_set_off_h", "team_arrived_h", "reswabbed_h", "delivered_h",
            "pcr_start_h", "reported_h",
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)


def single_tube_table(recalls: pd.DataFrame, reads: TubeReads) -> pd.DataFrame:
    """One row per single tube of the recalls: its recall (pooled tube), whether its
    member is a case and whether it read positive, and the recall's times.

    The reads are drawn as counts per pooled tube (:func:`~sim.model.positives.read_tubes`),
    and the members of a tube are alike, so a tube's cases are listed first, the cases
    found before those missed, then the others, those that read positive first.
    """
    if not len(recalls):
        return pd.DataFrame(
            columns=["replication", "tube", "single", "case", "reads_positive", "reported_h"]
        )
    tube = recalls["tube"].to_numpy()
    members = recalls["members"].to_numpy()
    cases = reads.cases[tube]
    found = reads.confirmed_cases[tube]
    false = reads.confirmed[tube] - found
    owner = np.repeat(np.arange(len(tube)), members)
    rank = np.arange(owner.size) - np.repeat(np.cumsum(members) - members, members)
    case = rank < cases[owner]
    positive = np.where(case, rank < found[owner], rank - cases[owner] < false[owner])
    return pd.DataFrame(
        {
            "replication": np.repeat(recalls["replication"].to_numpy(), members),
            "tube": tube[owner],
            "single": rank,
            "case": case,
            "reads_positive": positive,
            "reswabbed_h": recalls["reswabbed_h"].to_numpy()[owner],
            "reported_h": recalls["reported_h"].to_numpy()[owner],
        }
    )


def team_table(recalls: pd.DataFrame, teams: int) -> pd.DataFrame:
    """One row per response team: recalls done, residents re-swabbed, hours driving and
    swabbing, and its share of the span from the first result notified to the last swab."""
    done = recalls.dropna(subset=["reswabbed_h"])
    rows = []
    first = float(recalls["notified_h"].min()) if len(recalls) else np.nan
    last = float(done["reswabbed_h"].max()) if len(done) else np.nan
    span = last - first if len(done) else 0.0
    for team in range(teams):
        mine = done[done["team"] == team]
        busy = float((mine["reswabbed_h"] - mine["team_set_off_h"]).sum())
        rows.append(
            {
                "replication": int(recalls["replication"].iloc[0]) if len(recalls) else 0,
                "team": team,
                "recalls": len(mine),
                "residents": int(mine["members"].sum()),
                "busy_h": busy,
                "utilisation": busy / span if span > 0 else 0.0,
            }
        )
    return pd.DataFrame(rows)
