"""Which lab a vehicle takes its tubes to, chosen as it leaves its last point.

The rules (``transport.dispatch`` in the scenario):

* ``route`` — the route's own lab (for automatic routes, the nearest one);
* ``nearest`` — the lab with the shortest drive from the last point;
* ``earliest_finish`` — the lab expected to report these tubes first. For lab
  k: it works from ``max(now, opens)``; the tubes it has in hand (delivered,
  without a result) and those on their way to it take ``in hand / capacity``
  to clear; these tubes arrive after the drive (without noise); so they are
  expected to be reported at ``max(arrival, opens, now-or-opening + in hand /
  capacity) + tubes / capacity + latency``, where capacity is the lab's
  slowest stage in tubes an hour and latency one mean run of every stage
  (:mod:`sim.model.capacity`). The least expected time wins; ties go to the
  route's lab, then to the lab listed first.

With ``overflow_after``, a lab whose work in hand (including the wait for its
opening) would take longer than that hands the tubes on: the vehicle drives to
the lab expected to finish them first among the others, with the extra
travel. Each trip records the lab and why it was chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..scenario.schema import Scenario
from ..units import format_minute
from .capacity import Capacity, capacities
from .lab import LabService

H = 3600.0
ROUTE_LAB = "route lab"  # why a trip went to its route's lab


class Dispatcher:
    """The dispatch rule of a scenario, reading the labs' work in hand as the round runs."""

    def __init__(
        self,
        labs: Sequence[LabService],
        rule: str = "route",
        overflow_after: float | None = None,
        capacity: Sequence[Capacity] = (),
        start: float = 0.0,
    ) -> None:
        if rule != "route" or overflow_after is not None:
            assert len(capacity) == len(labs), "earliest finish and overflow read capacities"
        self.rule = rule
        self.overflow_after = overflow_after
        self.labs = list(labs)
        self.start = start  # clock time of the round start (for the reasons, in clock time)
        self.capacity = list(capacity)
        self.opens = [lab.opens_at for lab in self.labs]

    @classmethod
    def of(cls, scenario: Scenario, labs: Sequence[LabService]) -> Dispatcher:
        """The scenario's dispatch rule over its labs."""
        rule = scenario.transport.dispatch
        return cls(labs, rule.rule, rule.overflow_after, capacities(scenario), scenario.round.start)

    @property
    def moves(self) -> bool:
        """Whether a vehicle may deliver anywhere but its route's lab."""
        return self.rule != "route" or self.overflow_after is not None

    def _per_second(self, k: int) -> float:
        return self.capacity[k].tubes_per_hour / H

    def work_hours(self, k: int, now: float) -> float:
        """Hours until lab k would have cleared what it has in hand and on the way to it."""
        lab = self.labs[k]
        wait = max(0.0, self.opens[k] - now)
        return (wait + (lab.in_hand + lab.coming) / self._per_second(k)) / H

    def expected_finish(self, k: int, now: float, drive: float, tubes: int) -> float:
        """When lab k is expected to report ``tubes`` arriving after ``drive`` seconds."""
        lab = self.labs[k]
        rate = self._per_second(k)
        works_from = max(now, self.opens[k])
        clear = works_from + (lab.in_hand + lab.coming) / rate
        begin = max(now + drive, self.opens[k], clear)
        return begin + tubes / rate + self.capacity[k].latency_s

    def choose(self, home: int, drives: Sequence[float], now: float, tubes: int) -> tuple[int, str]:
        """The lab for ``tubes`` leaving now: ``home`` is the route's lab, ``drives[k]``
        the drive to lab k (seconds). Returns the lab and why it was chosen."""
        order = [home, *(k for k in range(len(self.labs)) if k != home)]
        if self.rule == "route":
            choice, why = home, ROUTE_LAB
        elif self.rule == "nearest":
            choice = min(order, key=lambda k: drives[k])
            why = "nearest lab"
        else:
            choice, why = self._earliest(order, drives, now, tubes, "earliest finish")
        if self.overflow_after is not None:
            hours = self.work_hours(choice, now)
            if hours > self.overflow_after / H:
                others = [k for k in order if k != choice]
                if others:
                    full = self.labs[choice].config.id
                    choice, why = self._earliest(
                        others, drives, now, tubes,
                        f"overflow: {full} has {hours:.1f} h of work in hand; earliest finish",
                    )  # fmt: skip
        return choice, why

    def _earliest(
        self, order: list[int], drives: Sequence[float], now: float, tubes: int, head: str
    ) -> tuple[int, str]:
        finish = {k: self.expected_finish(k, now, drives[k], tubes) for k in order}
        choice = min(order, key=lambda k: finish[k])  # min keeps the first of equals
        when = format_minute(self.start + finish[choice])
        runner_up = [k for k in order if k != choice]
        if runner_up:
            k = min(runner_up, key=lambda j: finish[j])
            other = f"; {self.labs[k].config.id} {format_minute(self.start + finish[k])}"
        else:
            other = ""
        return choice, f"{head} {when}{other}"
