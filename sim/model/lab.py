"""Testing (检) and reporting (报) in the laboratories, as SimPy events in the round's loop.

The rules. Delivered bags are received one bag per receiving staff member
(unpack, disinfect, scan). Received tubes wait, oldest first, to be loaded on a
plate: when a loading staff member is free and a full plate's worth of tubes
(``wells - controls``) waits, or the oldest waiting tube has waited
``partial_plate_after``, the staff member takes up to a plate's worth and loads
it. Loaded plates are extracted (an instrument takes up to ``plates_per_run``
waiting plates per run), amplified on a PCR instrument (a whole plate) and
analysed and uploaded by a report staff member; a tube's result is out when its
plate's report is. Every queue is first come, first served, and the server
(staff member or instrument) idle longest takes the next item; its number is
the one recorded. The stages, their order and where their servers and
durations come from are the registry's (:mod:`sim.stages`).

Availability. Each stage's servers follow the lab's calendar
(:mod:`sim.model.calendars`): nobody works before the lab ``opens``, and an
entry of ``disruptions:`` takes units out for a while (the highest-numbered
ones; overlapping entries add up, to at most all of them). A unit out of
service finishes the run under way first (``finish``), or stops it and carries
on when it is back (``resume``); a unit that comes back takes work at once.

How it is simulated. Each run is one SimPy event (a bag received, a plate
loaded, a run of plates extracted, a plate amplified, a plate reported), and a
partial-plate timer is one more; so a lab's backlog, its results and its
outages are known to the rest of the round as they happen (dispatch reads them,
see :mod:`sim.model.dispatch`). When a run ends, the items go on to the next
stage first (which may start them at once), then the server takes its next
item or waits; a receipt or a load ends by forming whatever plates can be
formed. At opening the stages start in order with plate loading last.
Durations come from one named stream per lab and stage, drawn as each run
starts (:mod:`sim.model.draws`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from ..random import Streams
from ..scenario.schema import Lab
from ..stages import STAGES, Stage
from .calendars import FINISH, RESUME, PoolEntry
from .draws import Buffered, durations
from .engine import Engine
from .ledger import Bag, Ledger, Plate

BagSpec = tuple[int, int, int]  # tube range lo:hi and the point it came from


class Pool:
    """The units (staff or instruments) of one lab stage and which of them are at work.

    ``idle`` holds the units free to take work, longest idle first. ``out`` units
    (the highest-numbered) are out of service; a busy unit taken out keeps going
    to the end of its run (``leaving``) or is stopped (``paused``: the time its run
    still needs).
    """

    __slots__ = ("idle", "leaving", "out", "paused", "units")

    def __init__(self, units: int, up: bool) -> None:
        self.units = units
        self.idle: deque[int] = deque(range(units)) if up else deque()
        self.out = 0 if up else units
        self.leaving: set[int] = set()
        self.paused: dict[int, float] = {}


class Step:
    """One stage at one lab: its queue of bags or plates, its units, its durations."""

    def __init__(
        self, lab: LabService, index: int, stage: Stage, units: int, up: bool, draw: Buffered
    ) -> None:
        self.lab = lab
        self.key = f"{lab.key}/{stage.name}"
        self.index = index  # position among the stages that work on the same kind of item
        self.stage = stage
        self.per_run = stage.per_run(lab.config)
        self.pool = Pool(units, up)
        self.draw = draw
        self.queue: deque[Bag | Plate] = deque()
        #: the single tubes of recalls (``positives.followup.lab: first``): ahead of the queue
        self.urgent: deque[Bag | Plate] = deque()
        self.running: dict[int, tuple[int, list[Bag | Plate]]] = {}  # unit -> (event, items)
        self.entries = 0  # units the calendar wants out now (may exceed the units)
        self.at = lab.engine.at
        self.env = lab.engine.env
        self._end = self.end  # the handler of its runs' ends, bound once
        self.k_start, self.k_end = 2 * index, 2 * index + 1  # where its times go on an item
        self.forms_plates = stage.forms_plates
        #: where the items of a finished run go (the next stage, or the lab's receipt or report)
        self.after: Callable[[list[Bag | Plate]], None] = lambda items: None

    # -- work -----------------------------------------------------------------
    def put(self, item: Bag | Plate) -> None:
        """An item joins the queue (an urgent one the urgent queue); an idle unit takes it."""
        (self.urgent if item.urgent else self.queue).append(item)
        if self.pool.idle:
            self.start(self.pool.idle.popleft())

    def put_all(self, items: list[Bag | Plate]) -> None:
        queue, idle = self.queue, self.pool.idle
        for item in items:
            (self.urgent if item.urgent else queue).append(item)
            if idle:
                self.start(idle.popleft())

    def start(self, unit: int) -> None:
        """Unit ``unit`` starts a run with the head of the queue."""
        now = self.env.now
        queue = self.queue
        k, i = self.k_start, self.index
        if self.urgent:  # urgent items first, a batch filled up from the queue
            urgent = self.urgent
            items = [urgent.popleft() for _ in range(min(self.per_run, len(urgent)))]
            items += [queue.popleft() for _ in range(min(self.per_run - len(items), len(queue)))]
            for item in items:
                item.times[k] = now
                item.server[i] = unit
        elif self.per_run == 1:
            item = queue.popleft()
            item.times[k] = now
            item.server[i] = unit
            items = [item]
        else:
            items = [queue.popleft() for _ in range(min(self.per_run, len(queue)))]
            for item in items:
                item.times[k] = now
                item.server[i] = unit
        self.running[unit] = (self.at(self.draw(), self._end, unit), items)

    def launch(self, unit: int, items: list[Bag | Plate], duration: float) -> None:
        """Unit ``unit`` runs ``items`` (already stamped) for ``duration``."""
        self.running[unit] = (self.at(duration, self._end, unit), items)

    def end(self, unit: int) -> None:
        """A run ended: stamp its items, pass them on; the unit takes the next item, waits,
        or leaves (out of service)."""
        items = self.running.pop(unit)[1]
        now = self.env.now
        k = self.k_end
        for item in items:
            item.times[k] = now
        self.after(items)
        pool = self.pool
        leaves = False
        if pool.leaving and unit in pool.leaving:
            pool.leaving.discard(unit)
            leaves = True
        if self.forms_plates:
            if not leaves:
                pool.idle.append(unit)
            self.lab.form_plates()
        elif leaves:
            return
        elif self.queue or self.urgent:
            self.start(unit)
        else:
            pool.idle.append(unit)

    def resume_work(self) -> None:
        """Units came back: start what waits."""
        if self.stage.forms_plates:
            self.lab.form_plates()
            return
        pool = self.pool
        while pool.idle and (self.queue or self.urgent):
            self.start(pool.idle.popleft())

    # -- availability ---------------------------------------------------------
    def set_out(self, wanted: int, rule: int) -> bool:
        """Take units out of service (or bring them back) so that ``wanted`` are out;
        returns whether idle units came back (the caller then hands them work)."""
        pool = self.pool
        wanted = min(max(wanted, 0), pool.units)
        engine = self.lab.engine
        now = engine.env.now
        while pool.out < wanted:  # the next-highest unit goes out
            pool.out += 1
            unit = pool.units - pool.out
            if unit in self.running:
                if rule == RESUME:
                    seq, items = self.running.pop(unit)
                    pool.paused[unit] = engine.entry(seq)[0] - now
                    engine.cancel(seq)
                    self.running[unit] = (-1, items)
                else:
                    pool.leaving.add(unit)
            else:
                pool.idle.remove(unit)
        back = False
        while pool.out > wanted:  # the lowest unit out comes back
            unit = pool.units - pool.out
            pool.out -= 1
            if unit in pool.paused:
                _, items = self.running.pop(unit)
                self.launch(unit, items, pool.paused.pop(unit))
            elif unit in pool.leaving:
                pool.leaving.discard(unit)
            elif unit not in self.running:
                pool.idle.append(unit)
                back = True
        return back


class LabService:
    """One lab: its stages wired together; vehicles call :meth:`deliver`."""

    def __init__(
        self,
        engine: Engine,
        index: int,
        config: Lab,
        opens_at: float,
        ledger: Ledger,
        streams: Streams,
        entries: Mapping[str, Sequence[PoolEntry]] | None = None,
        restoring: bool = False,
    ) -> None:
        self.engine = engine
        self.index = index
        self.config = config
        self.key = f"lab:{config.id}"
        self.ledger = ledger
        self.opens_at = opens_at
        self.per_plate = config.pcr.samples_per_plate
        self.wait_limit = config.partial_plate_after
        up = opens_at <= 0.0
        self.steps: dict[str, Step] = {}
        self.bag_steps: list[Step] = []
        self.plate_steps: list[Step] = []
        for stage in STAGES:
            group = self.bag_steps if stage.unit == "bag" else self.plate_steps
            draw = durations(stage.run_time(config), streams[f"lab/{config.id}/{stage.name}"])
            step = Step(self, len(group), stage, stage.units(config), up, draw)
            group.append(step)
            self.steps[stage.name] = step
        self.forming = self.plate_steps[0]
        for group, last in ((self.bag_steps, self._received), (self.plate_steps, self._reported)):
            for step, nxt in pairwise(group):
                step.after = nxt.put_all
            group[-1].after = last
        # received tubes waiting for a plate: [lo, hi, received] ranges, oldest first
        self.waiting: deque[list[float]] = deque()
        self.n_waiting = 0
        #: recalls' single tubes received and waiting for a loader, ahead of every plate
        self.urgent_bags: deque[Bag] = deque()
        #: told when a plate of single tubes is reported
        self.on_single: Callable[[Plate], None] | None = None
        self._timer_for = np.nan  # the oldest receipt a partial-plate timer is set for
        #: tubes delivered here without a result, and tubes on their way here (for dispatch)
        self.in_hand = 0
        self.coming = 0
        #: told of every plate reported here: (lab index, the plate's tube ranges)
        self.on_report: Callable[[int, list[tuple[int, int]]], None] | None = None
        if restoring:  # the calendar's events and the stages' state come from the saved state
            return
        # the calendar: every change due at one instant happens in one event, so an entry
        # starting when another ends (or when the lab opens) keeps its units out throughout
        due: dict[float, list[tuple[str, int, int]]] = {}
        if not up:  # the stages open in order, plate loading last
            for step in self._opening_order():
                due.setdefault(opens_at, []).append((step.stage.name, -step.pool.units, FINISH))
                step.entries = step.pool.units
        for name, rows in (entries or {}).items():
            for entry in rows:
                due.setdefault(entry.start, []).append((name, entry.units, entry.rule))
                due.setdefault(entry.end, []).append((name, -entry.units, entry.rule))
        for at in sorted(due):
            engine.at(at, self.calendar, tuple(due[at]))

    def _opening_order(self) -> list[Step]:
        return [s for s in self.steps.values() if not s.stage.forms_plates] + [self.forming]

    # -- events (the engine calls these by name) -------------------------------
    def calendar(self, changes: tuple[tuple[str, int, int], ...]) -> None:
        """The availability changes due now: (stage, more units out (negative: back), rule).

        All are applied before any unit that came back is given work, so changes at
        one instant add up first; units going out follow the rule of the first entry
        starting now at their stage.
        """
        rules: dict[str, int] = {}
        for name, change, rule in changes:
            self.steps[name].entries += change
            if change > 0:
                rules.setdefault(name, rule)
        touched = {name for name, _, _ in changes}
        back = [
            step
            for step in self._opening_order()
            if step.stage.name in touched
            and step.set_out(step.entries, rules.get(step.stage.name, FINISH))
        ]
        for step in back:
            step.resume_work()

    def timer(self) -> None:
        """The oldest waiting tube may now go on a plate part-full."""
        self.form_plates()

    # -- receiving and plates ---------------------------------------------------
    def deliver(self, bags: list[BagSpec]) -> None:
        """A vehicle hands over ``bags`` now."""
        ledger = self.ledger
        now = self.engine.env.now
        first = self.bag_steps[0]
        records = ledger.bags
        index = self.index
        tubes = 0
        for lo, hi, point in bags:
            bag = Bag(len(records), index, point, lo, hi, now)
            records.append(bag)
            tubes += hi - lo
            first.put(bag)
        self.in_hand += tubes

    def deliver_urgent(self, bag: Bag) -> None:
        """A courier hands over a recall's single tubes (an urgent bag): ahead of every bag."""
        self.bag_steps[0].put(bag)

    def _received(self, bags: list[Any]) -> None:
        """Bags out of the last bag stage: their tubes wait for a plate (recalls' single
        tubes wait apart, and are loaded before any other, as many as a plate holds)."""
        now = self.engine.env.now
        for bag in bags:
            if bag.urgent:
                self.urgent_bags.append(bag)
                continue
            self.waiting.append([bag.lo, bag.hi, now])
            self.n_waiting += bag.hi - bag.lo
        self.form_plates()

    def form_plates(self) -> None:
        """Load plates while a loader is free and a full or overdue plate waits; then make
        sure a timer rings when the oldest waiting tube becomes overdue."""
        now = self.engine.env.now
        limit = self.wait_limit
        step = self.forming
        idle = step.pool.idle
        urgent = self.urgent_bags
        while idle and urgent:  # the waiting recalls, as many as a plate holds, go first
            bags = [urgent.popleft()]
            tubes = bags[0].hi - bags[0].lo
            while urgent and tubes + urgent[0].hi - urgent[0].lo <= self.per_plate:
                tubes += urgent[0].hi - urgent[0].lo
                bags.append(urgent.popleft())
            plate = type(bags[0]).plate_of(bags)  # type: ignore[attr-defined]
            unit = idle.popleft()
            plate.times[0] = now
            plate.server[0] = unit
            step.launch(unit, [plate], step.draw())
        while (
            idle
            and self.n_waiting
            and (self.n_waiting >= self.per_plate or now >= self.waiting[0][2] + limit)
        ):
            plate = self._take_plate()
            unit = idle.popleft()
            plate.times[0] = now
            plate.server[0] = unit
            step.launch(unit, [plate], step.draw())
        if self.n_waiting and self.waiting[0][2] != self._timer_for:
            self._timer_for = self.waiting[0][2]
            self.engine.at(max(0.0, self._timer_for + limit - now), self.timer)

    def _take_plate(self) -> Plate:
        ledger = self.ledger
        want = min(self.per_plate, self.n_waiting)
        ranges: list[tuple[int, int]] = []
        got = 0
        waiting = self.waiting
        while got < want:
            entry = waiting[0]
            lo, hi = int(entry[0]), int(entry[1])
            take = min(hi - lo, want - got)
            ranges.append((lo, lo + take))
            got += take
            if lo + take == hi:
                waiting.popleft()
            else:
                entry[0] = lo + take
        self.n_waiting -= got
        plate = Plate(len(ledger.plates), self.index, ranges, got)
        ledger.plates.append(plate)
        return plate

    def _reported(self, plates: list[Any]) -> None:
        """Plates out of the last stage: their results are out."""
        for plate in plates:
            if plate.urgent:
                if self.on_single is not None:
                    self.on_single(plate)
                continue
            self.in_hand -= plate.tubes
            if self.on_report is not None:
                self.on_report(self.index, plate.ranges)


@dataclass
class StepState:
    """One stage's work at the moment a round is saved (items by bag or plate id)."""

    queue: list[int]
    running: dict[int, tuple[int, list[int]]]  # unit -> (its pending event, item ids)
    idle: list[int]  # longest idle first
    out: int
    leaving: list[int]
    paused: dict[int, float]  # unit -> time its stopped run still needs
    entries: int
    draws: int  # durations drawn so far from the stage's stream


@dataclass
class LabState:
    """A lab at the moment a round is saved."""

    waiting: list[tuple[int, int, float]]  # tube ranges waiting for a plate, and their receipt
    n_waiting: int
    timer_for: float
    in_hand: int
    coming: int
    steps: dict[str, StepState]


def snapshot(lab: LabService) -> LabState:
    """What :func:`restore` needs to carry ``lab`` on from now."""
    steps = {}
    for name, step in lab.steps.items():
        pool = step.pool
        steps[name] = StepState(
            queue=[item.id for item in step.queue],
            running={
                u: (seq, [item.id for item in items]) for u, (seq, items) in step.running.items()
            },
            idle=list(pool.idle),
            out=pool.out,
            leaving=sorted(pool.leaving),
            paused=dict(pool.paused),
            entries=step.entries,
            draws=step.draw.taken,
        )
    return LabState(
        waiting=[(int(lo), int(hi), float(t)) for lo, hi, t in lab.waiting],
        n_waiting=lab.n_waiting,
        timer_for=float(lab._timer_for),
        in_hand=lab.in_hand,
        coming=lab.coming,
        steps=steps,
    )


def restore(lab: LabService, state: LabState, shift: Callable[[int], int]) -> None:
    """Set ``lab`` (built with ``restoring``) to ``state``; ``shift`` maps a saved tube id to
    this round's. The ledger's bags and plates must be restored first."""
    ledger = lab.ledger
    lab.waiting = deque([shift(lo), shift(lo) + hi - lo, t] for lo, hi, t in state.waiting)
    lab.n_waiting = state.n_waiting
    lab._timer_for = state.timer_for
    lab.in_hand, lab.coming = state.in_hand, state.coming
    for name, saved in state.steps.items():
        step = lab.steps[name]
        items: list[Any] = ledger.bags if step.stage.unit == "bag" else ledger.plates
        step.queue = deque(items[i] for i in saved.queue)
        step.running = {
            u: (seq, [items[i] for i in ids]) for u, (seq, ids) in saved.running.items()
        }
        pool = step.pool
        pool.idle = deque(saved.idle)
        pool.out = saved.out
        pool.leaving = set(saved.leaving)
        pool.paused = dict(saved.paused)
        step.entries = saved.entries
        step.draw.skip(saved.draws)


def renumber_events(lab: LabService, new: Mapping[int, int]) -> None:
    """The lab's runs under way wait for events that were scheduled again under new numbers."""
    for step in lab.steps.values():
        step.running = {u: (new.get(seq, seq), items) for u, (seq, items) in step.running.items()}


class Labs(Mapping[str, LabService]):
    """The labs of one replication, by id."""

    def __init__(
        self,
        engine: Engine,
        labs: Sequence[Lab],
        start: float,
        ledger: Ledger,
        streams: Streams,
        entries: Sequence[Mapping[str, Sequence[PoolEntry]]] | None = None,
        restoring: bool = False,
    ) -> None:
        self._labs = {
            lab.id: LabService(
                engine, k, lab, 0.0 if lab.opens is None else lab.opens - start, ledger,
                streams, entries[k] if entries else None, restoring,
            )
            for k, lab in enumerate(labs)
        }  # fmt: skip
        self.by_index = list(self._labs.values())

    def __getitem__(self, key: str) -> LabService:
        return self._labs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labs)

    def __len__(self) -> int:
        return len(self._labs)
