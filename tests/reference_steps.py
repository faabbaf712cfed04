"""A SimPy lab that runs a lab's own steps, written apart from natsim's: the reference for
``sim.model.lab`` on labs with ``steps:`` sharing ``pools:``.

It runs ``Lab.process`` (the lab's own steps, or the five default stages written as
steps), callback-driven: one SimPy timeout per run and per timer, with its own
records (:class:`RefBag`, :class:`RefPlate`, :class:`Bundle`). It does not import
``sim.model.lab``. The rules, as simulated here:

Pools. A pool's units are numbered 0..n-1; the idle ones wait in a FIFO, idle longest
first (at first 0, 1, ..., n-1). A run takes, for each pool the step needs (in the
order of its ``needs``), ``count`` units from the front of that pool's FIFO, and
holds them to its end; then they go to the back of their FIFOs (pool by pool, in the
order taken), unless out of service. The server recorded is the run's first unit of
its first pool.

Steps. Every step has a FIFO of items (bags, plates, or combined plates). It starts
runs while items wait and every pool it needs has the units idle: with ``batch.min``
above one and fewer waiting it waits for more (forever without ``batch.wait``; else
until the head item has waited ``wait``: a timer then tries again); with
``batch.tick`` runs start on the tick only (every ``tick`` from the lab's opening:
a timer for the next one); a run takes up to ``batch.size`` items from the head.
A run's duration is drawn as it starts, from the step's own stream
(``lab/<lab>/<step>``). When it ends its items go on together to the next step of
their kind (bag steps to bag steps, plate steps to plate steps), a ``combine`` step's
as one item; then its units come free and are offered: to the one step needing the
only pool it held, or else to every step needing one of its pools, downstream first.

Tubes. The tubes of bags out of the last bag step (or delivered, with none) wait as
ranges, oldest first; while a full plate's worth (``samples_per_plate``) waits or
the oldest has waited ``partial_plate_after``, and the tube step's pools have the
units, the tube step puts up to a plate's worth on a new plate (splitting a range)
and runs on it. A timer rings when the oldest waiting tube becomes overdue. The tube
step tries this whenever a step would try to start runs.

Availability. ``entries`` (pool name -> ``PoolEntry`` rows) and a late opening take
units out: the level out of a pool, recomputed at each instant where something
changes, is all of them before the opening plus the units of the entries in force,
at most all; the units out are the highest-numbered. All the changes of an instant
are counted first; then the pools are brought to their levels in "pool order" (the
order of the first step needing each, the tube step counted last). Going out, an
idle unit just stops taking work; a busy one keeps working to its run's end
(``finish``) or stops the run (``resume``), which carries on, for the time it still
needed, once every unit that stopped it is back. Coming back (lowest-numbered first),
a unit that stopped a run lets it carry on, a unit still finishing is no longer
leaving, an idle one joins the back of its FIFO. Then each pool that got idle units
back (in pool order) offers them to its steps, downstream first.

:class:`ReferenceStepLabs` takes the arguments of :class:`sim.model.lab.Labs` (it runs
in ``engine.env``) and appends its own records to the ledger's lists, so
``Ledger.settle`` writes the tube arrays from them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, cast

import simpy

from sim.model.calendars import RESUME, PoolEntry
from sim.model.draws import Buffered, durations
from sim.model.ledger import Ledger
from sim.random import Streams
from sim.scenario.schema import Lab, StepSpec

EPS = 1e-6  # seconds: how close to a tick or a batch's due time counts as on it
Entries = Mapping[str, Sequence[PoolEntry]]
NAN = float("nan")


@dataclass
class RefBag:
    """One bag: its tubes, when it was delivered, and each bag step's start, end, server."""

    id: int
    lab: int
    point: int
    lo: int
    hi: int
    delivered: float
    starts: list[float]
    ends: list[float]
    servers: list[int]

    @property
    def received(self) -> float:
        """When its tubes left the last bag step (the delivery, with no bag steps)."""
        return self.ends[-1] if self.ends else self.delivered


@dataclass
class RefPlate:
    """One plate: its tube ranges and each plate step's start, end, server (the tube step's
    first: it formed the plate)."""

    id: int
    lab: int
    ranges: list[tuple[int, int]]
    tubes: int
    starts: list[float]
    ends: list[float]
    servers: list[int]


@dataclass
class Bundle:
    """Plates that a ``combine`` step sent on as one item."""

    plates: list[RefPlate]


Item = RefBag | RefPlate | Bundle


def _members(item: Item) -> list[Any]:
    """The records an item's times are written on (a bundle's every plate)."""
    return item.plates if isinstance(item, Bundle) else [item]


@dataclass(eq=False)
class Job:
    """One run under way (or stopped): its step, items and units, and when it is due."""

    step: RefStep
    items: list[Item]
    held: list[tuple[RefPool, list[int]]]
    lead: int
    due: float = NAN
    ticket: int = 0  # its timeouts carry the ticket of the moment; a stopped run's are void
    halts: int = 0  # its units out of service that stopped it
    left: float = NAN  # stopped: the time it still needs


class RefPool:
    """The units of one pool: idle (idle longest first), at work, out of service."""

    def __init__(self, name: str, units: int, up: bool) -> None:
        self.name = name
        self.units = units
        self.closed = not up  # before the lab opens every unit is out
        self.booked = 0  # units the entries in force take out
        self.idle: deque[int] = deque(range(units)) if up else deque()
        self.away: set[int] = set() if up else set(range(units))
        self.working: dict[int, Job] = {}
        self.finishing: set[int] = set()  # out, but working to the end of their run
        self.halted: dict[int, Job] = {}  # out, with the run they stopped
        self.steps: list[RefStep] = []  # the steps needing it, downstream first

    def level(self) -> int:
        return min(self.units, max(0, (self.units if self.closed else 0) + self.booked))


@dataclass(eq=False)
class RefStep:
    """One step of a lab: what it works on, its needs, its batch rule and its queue."""

    spec: StepSpec
    position: int  # in the process (later: downstream)
    slot: int  # among the steps of its kind (bag or plate: the tube step is plate step 0)
    needs: list[tuple[RefPool, int]]
    draw: Buffered
    queue: deque[tuple[Item, float]] = field(default_factory=deque)  # (item, when it joined)
    timer_due: float = NAN
    next: RefStep | None = None

    @property
    def name(self) -> str:
        return self.spec.name


class RefLab:
    """One lab running its process; ``deliver`` is what vehicles call."""

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        lab: Lab,
        opens_at: float,
        ledger: Ledger,
        streams: Streams,
        entries: Entries | None,
        combined: list[tuple[str, tuple[int, ...]]],
    ) -> None:
        self.env = env
        self.index = index
        self.config = lab
        self.ledger = ledger
        self.combined = combined  # (step, plate ids) of every bundle made, in order
        self.opens_at = opens_at
        self.coming = 0
        self.in_hand = 0
        self.per_plate = lab.samples_per_plate
        self.limit = lab.partial_plate_after
        process = lab.process
        up = not opens_at > 0.0
        self.pools = {name: RefPool(name, p.units, up) for name, p in process.pools.items()}
        self.steps: list[RefStep] = []
        kinds = {"bag": 0, "plate": 0}
        for position, spec in enumerate(process.steps):
            kind = "bag" if spec.works_on == "bag" else "plate"
            self.steps.append(
                RefStep(
                    spec,
                    position,
                    kinds[kind],
                    [(self.pools[name], count) for name, count in spec.needs.items()],
                    durations(spec.duration, streams[f"lab/{lab.id}/{spec.name}"]),
                )
            )
            kinds[kind] += 1
        self.bag_steps = [s for s in self.steps if s.spec.works_on == "bag"]
        self.plate_steps = [s for s in self.steps if s.spec.works_on != "bag"]
        self.tube = self.plate_steps[0]
        assert self.tube.spec.works_on == "tube"
        for chain in (self.bag_steps, self.plate_steps):
            for a, b in pairwise(chain):
                a.next = b
        for step in sorted(self.steps, key=lambda s: -s.position):
            for pool, _ in step.needs:
                pool.steps.append(step)
        order: list[RefPool] = []
        for step in [*(s for s in self.steps if s is not self.tube), self.tube]:
            for pool, _ in step.needs:
                if pool not in order:
                    order.append(pool)
        self.pool_order = order
        self.waiting: deque[list[Any]] = deque()  # [lo, hi, received]
        self.n_waiting = 0
        self.partial_for = NAN  # the receipt the last partial-plate timer was set for
        # the calendar: per instant, per pool, the changes (units more out, rule) in order
        instants: dict[float, dict[str, list[tuple[int, int]]]] = {}
        opening = opens_at if not up else None
        if opening is not None:
            instants.setdefault(opening, {})
        for name, rows in (entries or {}).items():
            for e in rows:
                instants.setdefault(e.start, {}).setdefault(name, []).append((e.units, e.rule))
                instants.setdefault(e.end, {}).setdefault(name, []).append((-e.units, e.rule))
        for t in sorted(instants):
            self._later(t - env.now, self._change, t == opening, instants[t])

    # -- SimPy -----------------------------------------------------------------------------
    def _later(self, delay: float, action: Callable[..., None], *args: Any) -> None:
        self.env.timeout(delay).callbacks.append(lambda _: action(*args))

    # -- the calendar ------------------------------------------------------------------------
    def _change(self, opening: bool, changes: dict[str, list[tuple[int, int]]]) -> None:
        for pool in self.pool_order:
            if opening:
                pool.closed = False
            pool.booked += sum(units for units, _ in changes.get(pool.name, []))
        came_back = []
        for pool in self.pool_order:
            starting = [rule for units, rule in changes.get(pool.name, []) if units > 0]
            if self._to_level(pool, starting[0] if starting else RESUME):
                came_back.append(pool)
        for pool in came_back:
            for step in pool.steps:
                self._offer(step)

    def _to_level(self, pool: RefPool, rule: int) -> bool:
        """Units out or back until the highest ``level()`` are out; whether idle ones came
        back."""
        now = self.env.now
        wanted = set(range(pool.units - pool.level(), pool.units))
        for unit in sorted(wanted - pool.away, reverse=True):
            pool.away.add(unit)
            job = pool.working.get(unit)
            if job is None:
                pool.idle.remove(unit)
            elif rule == RESUME:
                pool.halted[unit] = job
                if job.halts == 0:
                    job.left = job.due - now
                    job.ticket += 1
                job.halts += 1
            else:
                pool.finishing.add(unit)
        back = False
        for unit in sorted(pool.away - wanted):
            pool.away.discard(unit)
            if unit in pool.halted:
                job = pool.halted.pop(unit)
                job.halts -= 1
                if job.halts == 0:
                    self._schedule(job, job.left)
            elif unit in pool.finishing:
                pool.finishing.discard(unit)
            else:
                pool.idle.append(unit)
                back = True
        return back

    # -- runs --------------------------------------------------------------------------------
    def _has_units(self, step: RefStep) -> bool:
        return all(len(pool.idle) >= count for pool, count in step.needs)

    def _offer(self, step: RefStep) -> None:
        """The step starts what it may (the tube step forms plates)."""
        if step is self.tube:
            self._form()
            return
        batch = step.spec.batch
        now = self.env.now
        while step.queue and self._has_units(step):
            if batch.min > 1 and len(step.queue) < batch.min:
                if batch.wait is None:
                    return
                due = step.queue[0][1] + batch.wait
                if now < due - EPS:
                    self._timer(step, due)
                    return
            if batch.tick is not None:
                tick = float(batch.tick)
                opens = max(self.opens_at, 0.0)
                due = opens + max(math.ceil((now - opens) / tick - EPS / tick), 0) * tick
                if due > now + EPS:
                    self._timer(step, due)
                    return
            n = min(batch.size, len(step.queue))
            self._begin(step, [step.queue.popleft()[0] for _ in range(n)])

    def _timer(self, step: RefStep, due: float) -> None:
        if due == step.timer_due:
            return
        step.timer_due = due
        self._later(max(0.0, due - self.env.now), self._ring, step)

    def _ring(self, step: RefStep) -> None:
        step.timer_due = NAN
        self._offer(step)

    def _begin(self, step: RefStep, items: list[Item]) -> None:
        held = [(pool, [pool.idle.popleft() for _ in range(count)]) for pool, count in step.needs]
        lead = held[0][1][0]
        now = self.env.now
        for item in items:
            for record in _members(item):
                record.starts[step.slot] = now
                record.servers[step.slot] = lead
        job = Job(step, items, held, lead)
        for pool, units in held:
            for unit in units:
                pool.working[unit] = job
        self._schedule(job, step.draw())

    def _schedule(self, job: Job, duration: float) -> None:
        job.ticket += 1
        job.due = self.env.now + duration
        self._later(duration, self._ended, job, job.ticket)

    def _ended(self, job: Job, ticket: int) -> None:
        if ticket != job.ticket:  # the run was stopped since
            return
        step = job.step
        now = self.env.now
        for item in job.items:
            for record in _members(item):
                record.ends[step.slot] = now
        items = job.items
        if step.spec.combine:
            plates = [p for item in items for p in _members(item)]
            self.combined.append((step.name, tuple(p.id for p in plates)))
            items = [Bundle(plates)]
        if step.next is not None:
            step.next.queue.extend((item, now) for item in items)
            self._offer(step.next)
        elif step.spec.works_on == "bag":
            self._receive(cast(list[RefBag], items))
        else:
            for item in items:
                self.in_hand -= sum(p.tubes for p in _members(item))
        self._release(job)

    def _release(self, job: Job) -> None:
        for pool, units in job.held:
            for unit in units:
                del pool.working[unit]
                if unit in pool.away:  # it was finishing: now it is out
                    pool.finishing.discard(unit)
                else:
                    pool.idle.append(unit)
        pools = [pool for pool, _ in job.held]
        if len(pools) == 1 and len(pools[0].steps) == 1:
            self._offer(pools[0].steps[0])
            return
        steps = {s.position: s for pool in pools for s in pool.steps}
        for position in sorted(steps, reverse=True):
            self._offer(steps[position])

    # -- bags, tubes and plates --------------------------------------------------------------
    def deliver(self, bags: list[tuple[int, int, int]]) -> None:
        """A vehicle hands over ``bags`` (tube lo, hi, point) now."""
        records = self.ledger.bags
        now = self.env.now
        n = len(self.bag_steps)
        made = []
        for lo, hi, point in bags:
            bag = RefBag(len(records), self.index, point, lo, hi, now, [NAN] * n, [NAN] * n,
                         [-1] * n)  # fmt: skip
            records.append(bag)  # type: ignore[arg-type]
            self.in_hand += hi - lo
            if self.bag_steps:
                first = self.bag_steps[0]
                first.queue.append((bag, now))
                self._offer(first)
            else:
                made.append(bag)
        if made:
            self._receive(made)

    def _receive(self, bags: list[RefBag]) -> None:
        now = self.env.now
        for bag in bags:
            self.waiting.append([bag.lo, bag.hi, now])
            self.n_waiting += bag.hi - bag.lo
        self._form()

    def _form(self) -> None:
        now = self.env.now
        while (
            self.n_waiting
            and (self.n_waiting >= self.per_plate or now >= self.waiting[0][2] + self.limit)
            and self._has_units(self.tube)
        ):
            self._begin(self.tube, [self._new_plate()])
        if self.n_waiting and self.waiting[0][2] != self.partial_for:
            self.partial_for = self.waiting[0][2]
            self._later(max(0.0, self.partial_for + self.limit - now), self._form)

    def _new_plate(self) -> RefPlate:
        want = min(self.per_plate, self.n_waiting)
        ranges: list[tuple[int, int]] = []
        while want:
            head = self.waiting[0]
            lo, hi = int(head[0]), int(head[1])
            take = min(hi - lo, want)
            ranges.append((lo, lo + take))
            want -= take
            self.n_waiting -= take
            if lo + take == hi:
                self.waiting.popleft()
            else:
                head[0] = lo + take
        n = len(self.plate_steps)
        plates = self.ledger.plates
        plate = RefPlate(len(plates), self.index, ranges, sum(h - lo for lo, h in ranges),
                         [NAN] * n, [NAN] * n, [-1] * n)  # fmt: skip
        plates.append(plate)  # type: ignore[arg-type]
        return plate


class ReferenceStepLabs(Mapping[str, RefLab]):
    """Every lab of a replication, by id, built from the arguments ``sim.model.lab.Labs``
    takes; ``combined`` lists every bundle made: (step, plate ids), in the order made."""

    def __init__(
        self,
        engine: Any,
        labs: Sequence[Lab],
        start: float,
        ledger: Ledger,
        streams: Streams,
        entries: Sequence[Entries] | None = None,
        restoring: bool = False,
    ) -> None:
        assert not restoring, "the reference cannot carry a round on from a state"
        self.combined: list[tuple[str, tuple[int, ...]]] = []
        self._labs = {
            lab.id: RefLab(
                engine.env, k, lab, 0.0 if lab.opens is None else lab.opens - start, ledger,
                streams, entries[k] if entries else None, self.combined,
            )
            for k, lab in enumerate(labs)
        }  # fmt: skip
        self.by_index = list(self._labs.values())

    def __getitem__(self, key: str) -> RefLab:
        return self._labs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labs)

    def __len__(self) -> int:
        return len(self._labs)
