"""Testing (检) and reporting (报) in the laboratories, as SimPy events in the round's loop.

A lab runs its process: a list of steps (:class:`sim.scenario.schema.StepSpec`;
a lab that lists none runs the five default stages, receiving, plate loading,
extraction, PCR and report, each on a pool of its own). Delivered bags go
through the bag steps; their tubes then wait, oldest first, for the tube step
to put them on a plate: a full plate's worth (``wells - controls``), or fewer
once the oldest has waited ``partial_plate_after``. Plates go through the plate
steps; a tube's result is out when its plate leaves the last step.

The rules. A step's run takes, for its whole length, the units it needs from
each pool it names (staff or instruments, declared once per lab and shared by
the steps that name them); it takes up to ``batch.size`` items, and starts once
``batch.min`` wait (default one: at once) or, with fewer, once the oldest has
waited ``batch.wait``; with ``batch.tick`` runs start only on the tick (every
``tick`` from the lab's opening). After a ``combine`` step the items of a run go
on as one (four 96-well plates stamped into a 384-well plate). Every queue is
first come, first served (recalls' single tubes ahead of it); the unit idle
longest takes the next run, and the first unit of the step's first pool is the
server recorded. When units come free, the steps that share their pools are
offered them downstream first (a lab finishes the work it has begun before it
starts more). The steps' names, columns and labels are the registry's
(:mod:`sim.stages`).

Availability. Each pool follows the lab's calendar (:mod:`sim.model.calendars`):
nobody works before the lab ``opens``, and an entry (a shift gap, an outage, a
breakdown) takes units out for a while (the highest-numbered ones; overlapping
entries add up, to at most all of them). A unit out of service finishes the run
under way first (``finish``), or stops it and carries on when it is back
(``resume``: a run stopped by several of its units carries on when all are
back); a unit that comes back takes work at once.

How it is simulated. Each run is one SimPy event (a bag received, a plate
loaded, a run of plates extracted ...), and a partial-plate, batch or tick
timer is one more; so a lab's backlog, its results and its outages are known
to the rest of the round as they happen (dispatch reads them, see
:mod:`sim.model.dispatch`). When a run ends, the items go on to the next step
first (which may start them at once), then its units are free for the next
run. At opening the pools come in the order of their first steps, the tube
step's last. Durations come from one named stream per lab and step
(``lab/<lab>/<step>``), drawn as each run starts (:mod:`sim.model.draws`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from ..random import Streams
from ..scenario.schema import Lab, StepSpec
from ..stages import Stage, process_of
from .calendars import FINISH, RESUME, PoolEntry
from .draws import Buffered, durations
from .engine import Engine
from .ledger import Bag, Combined, Ledger, Plate, blank

BagSpec = tuple[int, int, int]  # tube range lo:hi and the point it came from
EPS = 1e-6  # seconds: a time on a tick


class Pool:
    """The units (staff or instruments) of one pool of a lab and which of them are at work.

    ``idle`` holds the units free to take work, longest idle first; ``busy`` the run
    each working unit is in. ``out`` units (the highest-numbered) are out of service;
    a busy unit taken out keeps going to the end of its run (``leaving``) or stops it
    (``paused``: the run it stopped).
    """

    __slots__ = ("busy", "entries", "idle", "leaving", "name", "out", "paused", "steps", "units")

    def __init__(self, name: str, units: int, up: bool) -> None:
        self.name = name
        self.units = units
        self.idle: deque[int] = deque(range(units)) if up else deque()
        self.out = 0 if up else units
        self.leaving: set[int] = set()
        self.paused: dict[int, Run] = {}
        self.busy: dict[int, Run] = {}
        self.entries = 0  # units the calendar wants out now (may exceed the units)
        self.steps: list[Step] = []  # the steps that need it, downstream first


class Run:
    """One run under way: its items, the units it holds, and (stopped) the time it needs."""

    __slots__ = ("_held", "items", "lead", "left", "seq", "step", "stopped")

    def __init__(
        self, step: Step, lead: int, items: list[Any], held: list[tuple[Pool, list[int]]] | None
    ) -> None:
        self.step = step
        self.lead = lead  # the recorded server: the first unit of the first pool
        self.items = items
        self._held = held  # None: the one unit ``lead`` of the step's one pool
        self.seq = -1  # its end's event (-1: stopped)
        self.left = 0.0  # when stopped, the time it still needs
        self.stopped = 0  # its units out of service that stopped it

    @property
    def held(self) -> list[tuple[Pool, list[int]]]:
        """The units it holds, pool by pool."""
        if self._held is None:
            assert self.step.solo is not None
            return [(self.step.solo, [self.lead])]
        return self._held


class Step:
    """One step at one lab: its queue of bags or plates, the pools it needs, its durations."""

    def __init__(
        self, lab: LabService, index: int, stage: Stage, spec: StepSpec,
        pools: Mapping[str, Pool], draw: Buffered,
    ) -> None:  # fmt: skip
        self.lab = lab
        self.key = f"{lab.key}/{stage.name}"
        self.index = index  # position among the steps that work on the same kind of item
        self.position = len(lab.steps)  # position in the lab's process (set as it is built)
        self.stage = stage
        self.needs = tuple((pools[name], count) for name, count in spec.needs.items())
        #: the one pool of a step that takes one unit of one pool (None: several): the path
        #: every default stage takes, kept free of the general loops
        self.solo = self.needs[0][0] if len(self.needs) == 1 and self.needs[0][1] == 1 else None
        self.per_run = spec.batch.size
        self.min = spec.batch.min
        self.wait = spec.batch.wait
        self.tick = spec.batch.tick
        self.combine = spec.combine
        self.draw = draw
        self.queue: deque[Any] = deque()
        #: the single tubes of recalls (``positives.followup.lab: first``): ahead of the queue
        self.urgent: deque[Any] = deque()
        self.running: dict[int, Run] = {}  # by its lead unit
        self.at = lab.engine.at
        self.env = lab.engine.env
        self._end = self.end  # the handler of its runs' ends, bound once
        self.k_start, self.k_end = 2 * index, 2 * index + 1  # where its times go on an item
        self.forms_plates = stage.forms_plates
        self._timer_at = np.nan  # the batch or tick timer set last
        #: where the items of a finished run go (the next step, or the lab's receipt or report)
        self.after: Callable[[list[Any]], None] = lambda items: None

    # -- work -----------------------------------------------------------------
    def put(self, item: Any) -> None:
        """An item joins the queue (an urgent one the urgent queue); a run may start."""
        (self.urgent if item.urgent else self.queue).append(item)
        self.try_start()

    def put_all(self, items: list[Any]) -> None:
        """Items that arrive together join the queue together; then runs start."""
        queue = self.queue
        for item in items:
            (self.urgent if item.urgent else queue).append(item)
        self.try_start()

    def free(self) -> bool:
        """Whether every pool it needs has the units idle (a loop: it runs at every event)."""
        for pool, count in self.needs:  # noqa: SIM110
            if len(pool.idle) < count:
                return False
        return True

    def try_start(self) -> None:
        """Start runs while items wait, the units are free and the batch rule allows."""
        if self.solo is not None and self.min == 1 and self.tick is None:
            idle = self.solo.idle
            while (self.queue or self.urgent) and idle:
                self.start()
            return
        while (self.queue or self.urgent) and self.free():
            if self.min > 1 and not self.urgent and len(self.queue) < self.min:
                # too few for a run: the oldest waits for more, at most ``wait``
                if self.wait is None:
                    return
                due = self.joined(self.queue[0]) + self.wait
                if self.env.now < due - EPS:
                    self._timer(due)
                    return
            if self.tick is not None:
                due = self._next_tick()
                if due > self.env.now + EPS:
                    self._timer(due)
                    return
            self.start()

    def joined(self, item: Any) -> float:
        """When ``item`` joined this step's queue (its delivery, or its last step's end)."""
        return float(item.times[self.k_start - 1] if self.k_start else item.delivered)

    def _next_tick(self) -> float:
        tick = float(self.tick or 0.0)
        opens = self.lab.opens_at if self.lab.opens_at > 0 else 0.0
        ticks = np.ceil((self.env.now - opens) / tick - EPS / tick)
        return float(opens + max(ticks, 0.0) * tick)

    def _timer(self, due: float) -> None:
        if due != self._timer_at:
            self._timer_at = due
            self.at(max(0.0, due - self.env.now), self.timer)

    def timer(self) -> None:
        """A batch's wait ran out, or a tick came: a run may start."""
        self._timer_at = np.nan
        self.try_start()

    def start(self) -> None:
        """A run starts with the head of the queue (urgent items first, then the oldest)."""
        queue = self.queue
        if self.urgent:
            urgent = self.urgent
            items = [urgent.popleft() for _ in range(min(self.per_run, len(urgent)))]
            items += [queue.popleft() for _ in range(min(self.per_run - len(items), len(queue)))]
        elif self.per_run == 1:
            items = [queue.popleft()]
        else:
            items = [queue.popleft() for _ in range(min(self.per_run, len(queue)))]
        self.begin(items)

    def begin(self, items: list[Any]) -> None:
        """The idle units it needs take ``items``: stamp them and schedule the run's end."""
        solo = self.solo
        if solo is not None:
            lead = solo.idle.popleft()
            run = Run(self, lead, items, None)
            solo.busy[lead] = run
        else:
            held = []
            for pool, count in self.needs:
                idle = pool.idle
                held.append((pool, [idle.popleft() for _ in range(count)]))
            lead = held[0][1][0]
            run = Run(self, lead, items, held)
            for pool, units in held:
                busy = pool.busy
                for unit in units:
                    busy[unit] = run
        now = self.env.now
        k, i = self.k_start, self.index
        for item in items:
            item.times[k] = now
            item.server[i] = lead
        run.seq = self.at(self.draw(), self._end, lead)
        self.running[lead] = run

    def end(self, lead: int) -> None:
        """A run ended: stamp its items and pass them on; its units are free again (those
        out of service leave) and the steps sharing them may start."""
        run = self.running.pop(lead)
        items = run.items
        now = self.env.now
        k = self.k_end
        for item in items:
            item.times[k] = now
        self.after([Combined(items)] if self.combine else items)
        self.lab.release(run)

    # -- availability ---------------------------------------------------------
    def relaunch(self, run: Run) -> None:
        """A stopped run carries on with the time it still needed."""
        run.seq = self.at(run.left, self._end, run.lead)


class Forming(Step):
    """The tube step: it puts received tubes on plates (the lab keeps the waiting tubes)."""

    def try_start(self) -> None:
        self.lab.form_plates()


class LabService:
    """One lab: its steps wired together on its pools; vehicles call :meth:`deliver`."""

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
        self.per_plate = config.samples_per_plate
        self.wait_limit = config.partial_plate_after
        up = opens_at <= 0.0
        process = config.process
        registry = process_of(process)
        self.pools = {name: Pool(name, spec.units, up) for name, spec in process.pools.items()}
        self.steps: dict[str, Step] = {}
        self.bag_steps: list[Step] = []
        self.plate_steps: list[Step] = []
        for spec, stage in zip(process.steps, registry.stages, strict=True):
            group = self.bag_steps if stage.unit == "bag" else self.plate_steps
            draw = durations(spec.duration, streams[f"lab/{config.id}/{stage.name}"])
            kind = Forming if stage.forms_plates else Step
            step = kind(self, len(group), stage, spec, self.pools, draw)
            group.append(step)
            self.steps[stage.name] = step
        for step in reversed(self.steps.values()):  # offered free units downstream first
            for pool, _ in step.needs:
                pool.steps.append(step)
        self.forming = self.plate_steps[0]
        self.pcr_slot = 2 * next(i for i, s in enumerate(self.plate_steps) if s.stage.amplifies)
        self.bag_blank = blank(len(self.bag_steps))
        self.plate_blank = blank(len(self.plate_steps))
        #: the pools in the order their first steps come (the tube step's last): the order
        #: they open in and are handed work when several come back at one instant
        order: dict[str, Pool] = {}
        for step in [*(s for s in self.steps.values() if not s.forms_plates), self.forming]:
            for pool, _ in step.needs:
                order.setdefault(pool.name, pool)
        self.pool_order = list(order.values())
        for group, last in ((self.bag_steps, self._received), (self.plate_steps, self._reported)):
            for step, nxt in pairwise(group):
                step.after = nxt.put_all
            if group:
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
        if restoring:  # the calendar's events and the steps' state come from the saved state
            return
        # the calendar: every change due at one instant happens in one event, so an entry
        # starting when another ends (or when the lab opens) keeps its units out throughout
        due: dict[float, list[tuple[str, int, int]]] = {}
        if not up:  # the pools open in order, the tube step's last
            for pool in self.pool_order:
                due.setdefault(opens_at, []).append((pool.name, -pool.units, FINISH))
                pool.entries = pool.units
        for name, rows in (entries or {}).items():
            for entry in rows:
                due.setdefault(entry.start, []).append((name, entry.units, entry.rule))
                due.setdefault(entry.end, []).append((name, -entry.units, entry.rule))
        for at in sorted(due):
            engine.at(at, self.calendar, tuple(due[at]))

    # -- events (the engine calls these by name) -------------------------------
    def calendar(self, changes: tuple[tuple[str, int, int], ...]) -> None:
        """The availability changes due now: (pool, more units out (negative: back), rule).

        All are applied before any unit that came back is given work, so changes at
        one instant add up first; units going out follow the rule of the first entry
        starting now at their pool.
        """
        rules: dict[str, int] = {}
        for name, change, rule in changes:
            self.pools[name].entries += change
            if change > 0:
                rules.setdefault(name, rule)
        touched = {name for name, _, _ in changes}
        back = [
            pool
            for pool in self.pool_order
            if pool.name in touched
            and self._set_out(pool, pool.entries, rules.get(pool.name, FINISH))
        ]
        for pool in back:
            for step in pool.steps:
                step.try_start()

    def _set_out(self, pool: Pool, wanted: int, rule: int) -> bool:
        """Take units out of service (or bring them back) so that ``wanted`` are out;
        returns whether idle units came back (the caller then hands them work)."""
        wanted = min(max(wanted, 0), pool.units)
        engine = self.engine
        now = engine.env.now
        while pool.out < wanted:  # the next-highest unit goes out
            pool.out += 1
            unit = pool.units - pool.out
            run = pool.busy.get(unit)
            if run is None:
                pool.idle.remove(unit)
            elif rule == RESUME:
                pool.paused[unit] = run
                if run.stopped == 0:
                    run.left = engine.entry(run.seq)[0] - now
                    engine.cancel(run.seq)
                    run.seq = -1
                run.stopped += 1
            else:
                pool.leaving.add(unit)
        back = False
        while pool.out > wanted:  # the lowest unit out comes back
            unit = pool.units - pool.out
            pool.out -= 1
            if unit in pool.paused:
                run = pool.paused.pop(unit)
                run.stopped -= 1
                if run.stopped == 0:
                    run.step.relaunch(run)
            elif unit in pool.leaving:
                pool.leaving.discard(unit)
            elif unit not in pool.busy:
                pool.idle.append(unit)
                back = True
        return back

    def release(self, run: Run) -> None:
        """A run's units are free: back to idle (those out of service leave), and the steps
        that need them, downstream first, may start."""
        solo = run.step.solo
        if run._held is None and solo is not None:  # one unit of one pool
            unit = run.lead
            del solo.busy[unit]
            leaving = solo.leaving
            if leaving and unit in leaving:
                leaving.discard(unit)
            else:
                solo.idle.append(unit)
            for step in solo.steps:
                step.try_start()
            return
        held = run.held
        for pool, units in held:
            busy, leaving = pool.busy, pool.leaving
            for unit in units:
                del busy[unit]
                if leaving and unit in leaving:
                    leaving.discard(unit)
                else:
                    pool.idle.append(unit)
        steps = {id(s): s for pool, _ in held for s in pool.steps}.values()
        for step in sorted(steps, key=lambda s: -s.position):
            step.try_start()

    def timer(self) -> None:
        """The oldest waiting tube may now go on a plate part-full."""
        self.form_plates()

    # -- receiving and plates ---------------------------------------------------
    def deliver(self, bags: list[BagSpec]) -> None:
        """A vehicle hands over ``bags`` now."""
        ledger = self.ledger
        now = self.engine.env.now
        records = ledger.bags
        index = self.index
        blank_ = self.bag_blank
        tubes = 0
        if not self.bag_steps:
            made = [Bag(len(records) + k, index, p, lo, hi, now, blank_)
                    for k, (lo, hi, p) in enumerate(bags)]  # fmt: skip
            records.extend(made)
            self.in_hand += sum(hi - lo for lo, hi, _ in bags)
            self._received(made)
            return
        first = self.bag_steps[0]
        for lo, hi, point in bags:
            bag = Bag(len(records), index, point, lo, hi, now, blank_)
            records.append(bag)
            tubes += hi - lo
            first.put(bag)
        self.in_hand += tubes

    def deliver_urgent(self, bag: Bag) -> None:
        """A courier hands over a recall's single tubes (an urgent bag): ahead of every bag."""
        bag.times, bag.server = self.bag_blank[0].copy(), self.bag_blank[1].copy()
        if self.bag_steps:
            self.bag_steps[0].put(bag)
        else:
            self._received([bag])

    def _received(self, bags: list[Any]) -> None:
        """Bags out of the last bag step: their tubes wait for a plate (recalls' single
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
        """Load plates while the tube step's units are free and a full or overdue plate
        waits; then make sure a timer rings when the oldest waiting tube becomes overdue."""
        now = self.engine.env.now
        limit = self.wait_limit
        step = self.forming
        urgent = self.urgent_bags
        while urgent and step.free():  # the waiting recalls, as many as a plate holds, go first
            bags = [urgent.popleft()]
            tubes = bags[0].hi - bags[0].lo
            while urgent and tubes + urgent[0].hi - urgent[0].lo <= self.per_plate:
                tubes += urgent[0].hi - urgent[0].lo
                bags.append(urgent.popleft())
            plate = type(bags[0]).plate_of(bags)  # type: ignore[attr-defined]
            plate.times, plate.server = self.plate_blank[0].copy(), self.plate_blank[1].copy()
            step.begin([plate])
        while (
            self.n_waiting
            and (self.n_waiting >= self.per_plate or now >= self.waiting[0][2] + limit)
            and step.free()
        ):
            step.begin([self._take_plate()])
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
        plate = Plate(len(ledger.plates), self.index, ranges, got, self.plate_blank)
        ledger.plates.append(plate)
        return plate

    def _reported(self, items: list[Any]) -> None:
        """Plates out of the last step: their results are out."""
        for item in items:
            for plate in item.plates if isinstance(item, Combined) else (item,):
                if plate.urgent:
                    if self.on_single is not None:
                        self.on_single(plate)
                    continue
                self.in_hand -= plate.tubes
                if self.on_report is not None:
                    self.on_report(self.index, plate.ranges)


@dataclass
class StepState:
    """One step's work at the moment a round is saved (items by bag or plate id)."""

    queue: list[int]
    #: lead unit -> (its pending event, item ids, units held by pool, time left, stopped by)
    running: dict[int, tuple[int, list[int], dict[str, list[int]], float, int]]
    draws: int  # durations drawn so far from the step's stream
    timer_at: float = np.nan


@dataclass
class PoolState:
    """One pool at the moment a round is saved."""

    idle: list[int]  # longest idle first
    out: int
    leaving: list[int]
    paused: dict[int, tuple[str, int]]  # unit -> the run it stopped (step, lead unit)
    entries: int
    units: int = -1  # the pool's units then (-1: as many as the pool restored into)


@dataclass
class LabState:
    """A lab at the moment a round is saved."""

    waiting: list[tuple[int, int, float]]  # tube ranges waiting for a plate, and their receipt
    n_waiting: int
    timer_for: float
    in_hand: int
    coming: int
    steps: dict[str, StepState]
    pools: dict[str, PoolState] = field(default_factory=dict)


def snapshot(lab: LabService) -> LabState:
    """What :func:`restore` needs to carry ``lab`` on from now."""
    steps = {}
    for name, step in lab.steps.items():
        if step.combine or any(isinstance(item, Combined) for item in (*step.queue, *step.urgent)):
            raise ValueError("the state of a lab that combines plates cannot be saved yet")
        steps[name] = StepState(
            queue=[item.id for item in step.queue],
            running={
                lead: (
                    run.seq,
                    [item.id for item in run.items],
                    {pool.name: list(units) for pool, units in run.held},
                    run.left,
                    run.stopped,
                )
                for lead, run in step.running.items()
            },
            draws=step.draw.taken,
            timer_at=float(step._timer_at),
        )
    pools = {
        name: PoolState(
            idle=list(pool.idle),
            out=pool.out,
            leaving=sorted(pool.leaving),
            paused={u: (run.step.stage.name, run.lead) for u, run in pool.paused.items()},
            entries=pool.entries,
            units=pool.units,
        )
        for name, pool in lab.pools.items()
    }
    return LabState(
        waiting=[(int(lo), int(hi), float(t)) for lo, hi, t in lab.waiting],
        n_waiting=lab.n_waiting,
        timer_for=float(lab._timer_for),
        in_hand=lab.in_hand,
        coming=lab.coming,
        steps=steps,
        pools=pools,
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
        step.running = {}
        for lead, (seq, ids, held, left, stopped) in saved.running.items():
            run = Run(step, lead, [items[i] for i in ids], [
                (lab.pools[p], list(units)) for p, units in held.items()
            ])  # fmt: skip
            run.seq, run.left, run.stopped = seq, left, stopped
            for pool, units in run.held:
                for unit in units:
                    pool.busy[unit] = run
            step.running[lead] = run
        step._timer_at = saved.timer_at
        step.draw.skip(saved.draws)
    for name, saved_pool in state.pools.items():
        pool = lab.pools[name]
        pool.idle = deque(saved_pool.idle)
        pool.out = saved_pool.out
        pool.leaving = set(saved_pool.leaving)
        pool.paused = {u: lab.steps[s].running[lead] for u, (s, lead) in saved_pool.paused.items()}
        pool.entries = saved_pool.entries
        if saved_pool.units >= 0 and pool.units != saved_pool.units:
            # a variant with more units from the state's time on (a nowcast's lever): all in
            # service then, or all waiting for the lab to open (the opening brings them all:
            # sim.model.state.restore gives it this pool's units)
            closed = saved_pool.out == saved_pool.entries == saved_pool.units
            if pool.units < saved_pool.units or not (
                closed or saved_pool.out == 0 == saved_pool.entries
            ):
                raise ValueError(
                    f"{lab.config.id}: {name} has {pool.units} units, the state "
                    f"{saved_pool.units}, some of them out of service: a state carries on "
                    "with as many units, or more when all are in service or the lab is not "
                    "open yet"
                )
            if closed:
                pool.out = pool.entries = pool.units
            else:
                pool.idle.extend(range(saved_pool.units, pool.units))


def renumber_events(lab: LabService, new: Mapping[int, int]) -> None:
    """The lab's runs under way wait for events that were scheduled again under new numbers."""
    for step in lab.steps.values():
        for run in step.running.values():
            run.seq = new.get(run.seq, run.seq)


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
