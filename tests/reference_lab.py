"""A SimPy lab written apart from natsim's: the reference for ``sim.model.lab``.

This is the lab natsim used before it had a stage registry, availability
calendars or its own event loop (callback-driven SimPy servers, one timeout per
run, draws from 256-value blocks), with its own records, kept so the tests can
show that ``sim.model.lab`` gives the same history for the same deliveries and
the same streams. The rules, as simulated here:

Delivered bags are received one bag per receiving staff member (unpack,
disinfect, scan). Received tubes wait, oldest first, to be loaded on a plate:
when a loading staff member is free and a full plate's worth of tubes
(``wells - controls``) waits, or the oldest waiting tube has waited
``partial_plate_after``, the staff member takes up to a plate's worth and loads
it. Loaded plates are extracted (an instrument takes up to ``plates_per_run``
waiting plates per run), amplified on a PCR instrument (a whole plate) and
analysed and uploaded by a report staff member; a tube's result is out when its
plate's report is. Nothing happens before the lab ``opens``. Every queue is
first come, first served.

Outages. ``entries[k]`` (as ``sim.model.lab.Labs`` takes them: for lab k, stage
name -> ``PoolEntry(start, end, units, rule)``) takes units of a stage out of
service. As simulated here:

* how many units of a stage are out is a level, recomputed at every calendar
  change: all of them while the lab is not open yet, plus the ``units`` of every
  entry in force, at most all of them; the units out are the highest-numbered;
* a unit that goes out idle takes no more work; a busy one either finishes its
  run and then stays out (``finish``: if it is back by the end of its run it
  goes on working at once), or has its run stopped, which carries on for the
  time it still needed when the unit is back (``resume``; the run keeps its
  start time). A unit that goes out takes the rule of the entry that sent it out;
* a unit that comes back takes work at once: stopped runs carry on first, then
  the units that came back free take new work, lowest-numbered first (a unit
  back is the last of the free ones, as it was free last).

The order of calendar changes at one instant. Every change is a SimPy timeout
scheduled when the lab is built, so it comes before any other event at its
instant. All the changes of one instant (the lab's opening, entries starting,
entries ending) are counted up first; then each stage, in the opening order
(receiving, extraction, PCR, report, plate loading last), is brought to its new
level: an entry ending as another starts leaves its unit out throughout.

``ReferenceLabs`` takes the arguments of :class:`sim.model.lab.Labs` and its
labs answer what vehicles ask of a lab (``deliver``, ``coming``, ``in_hand``,
``config``, ``opens_at``), so a whole replication can run on it
(``run_replication`` with ``world.Labs`` patched). It writes the tube arrays of
the ledger and appends its own bag and plate records (:class:`RefBag`,
:class:`RefPlate`) to the ledger's lists.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import numpy as np
import simpy

from sim.distributions import DurationDist
from sim.model.calendars import RESUME, PoolEntry
from sim.model.draws import Buffered, durations
from sim.model.ledger import Ledger
from sim.random import Streams
from sim.scenario.schema import Lab

Bag = tuple[int, int, int]  # tube range lo:hi and the point it came from
STAGE_ORDER = ("receiving", "extraction", "pcr", "report", "loading")  # the opening order
Entries = Mapping[str, Sequence[PoolEntry]]


@dataclass
class RefBag:
    """One bag: its tubes, when it was delivered and received, and by whom."""

    id: int
    lab: int
    point: int
    lo: int
    hi: int
    delivered: float
    receive_start: float = np.nan
    received: float = np.nan
    staff: int = -1


@dataclass
class RefPlate:
    """One 96-well plate: its tube ranges and the time it passed each step."""

    id: int
    lab: int
    ranges: list[tuple[int, int]]
    tubes: int
    formed: float
    loaded: float = np.nan
    loader: int = -1
    extraction_instrument: int = -1
    extraction_start: float = np.nan
    extraction_end: float = np.nan
    pcr_instrument: int = -1
    pcr_start: float = np.nan
    pcr_end: float = np.nan
    report_start: float = np.nan
    reported: float = np.nan


Begin = Callable[[int, list[Any], float], None]
Done = Callable[[int, list[Any], float, float], None]


class Run:
    """One run under way: its unit, its items, when it began and when it is due to end.

    Each timeout scheduled for it carries the run's ``ticket`` of the moment; a
    run stopped (or carried on again) gets a new ticket, so a timeout of an
    earlier ticket is void when it fires.
    """

    __slots__ = ("due", "items", "start", "ticket", "unit")

    def __init__(self, unit: int, items: list[Any], start: float) -> None:
        self.unit = unit
        self.items = items
        self.start = start
        self.due = np.nan
        self.ticket = 0


class Crew:
    """The units (staff or instruments) of one stage: free, at work, or out of service.

    ``free`` holds the units that may take work, free longest first. ``away`` is
    the set of units out of service: always the highest-numbered ``level()``. A
    unit away may still be working (``finishing``: to the end of its run) or
    have its run stopped (``stopped``: the time the run still needs).
    """

    def __init__(
        self,
        env: simpy.Environment,
        count: int,
        up: bool,
        ended: Callable[[Run], None],
        freed: Callable[[], None],
    ) -> None:
        self.env = env
        self.count = count
        self.closed = not up  # the lab has not opened yet: every unit is out
        self.booked = 0  # units the entries in force take out (may exceed ``count``)
        self.free: deque[int] = deque(range(count)) if up else deque()
        self.away: set[int] = set() if up else set(range(count))
        self.runs: dict[int, Run] = {}
        self.finishing: set[int] = set()
        self.stopped: dict[int, float] = {}
        self.ended = ended  # a run is over (the owner passes its items on)
        self.freed = freed  # units came back free (the owner hands out work)

    # -- runs ---------------------------------------------------------------------
    def begin(self, unit: int, items: list[Any], duration: float) -> None:
        """Unit ``unit`` starts a run of ``items`` lasting ``duration``."""
        run = Run(unit, items, self.env.now)
        self.runs[unit] = run
        self._due_in(run, duration)

    def _due_in(self, run: Run, duration: float) -> None:
        run.ticket += 1
        run.due = self.env.now + duration
        self.env.timeout(duration, (run, run.ticket)).callbacks.append(self._fired)

    def _fired(self, event: simpy.Event) -> None:
        run, ticket = cast(tuple[Run, int], event.value)
        if ticket != run.ticket:  # stopped (and perhaps carried on) since this was scheduled
            return
        del self.runs[run.unit]
        self.ended(run)

    def goes_on(self, unit: int) -> bool:
        """After its run: whether ``unit`` may take more work (False: it is out of service)."""
        self.finishing.discard(unit)
        return unit not in self.away

    # -- availability ---------------------------------------------------------------
    def level(self) -> int:
        """How many units are to be out now."""
        return min(self.count, (self.count if self.closed else 0) + self.booked)

    def update(self, rule: int) -> None:
        """Send units out (by ``rule``) or bring them back until the top ``level()`` are out."""
        now = self.env.now
        wanted = set(range(self.count - self.level(), self.count))
        for unit in sorted(wanted - self.away, reverse=True):
            self.away.add(unit)
            run = self.runs.get(unit)
            if run is None:  # idle: it just takes no more work
                self.free.remove(unit)
            elif rule == RESUME:  # the run stops here
                run.ticket += 1
                self.stopped[unit] = run.due - now
            else:  # it finishes the run first
                self.finishing.add(unit)
        came_free = False
        for unit in sorted(self.away - wanted):  # the lowest-numbered first
            self.away.discard(unit)
            if unit in self.stopped:
                self._due_in(self.runs[unit], self.stopped.pop(unit))
            elif unit in self.finishing:  # back before its run ended: it just goes on
                self.finishing.discard(unit)
            else:
                self.free.append(unit)
                came_free = True
        if came_free:
            self.freed()


class Servers:
    """``count`` identical servers taking up to ``batch`` items per run from one FIFO queue.

    The server free longest takes the next item; its number is the instrument
    or staff number in the records. Driven by callbacks: a run costs one SimPy
    timeout, not a process and a store round trip.
    """

    def __init__(
        self,
        env: simpy.Environment,
        count: int,
        batch: int,
        duration: Buffered,
        up: bool,
        begin: Begin,
        done: Done,
    ) -> None:
        self.env = env
        self.batch = batch
        self.duration = duration
        self.begin = begin
        self.done = done
        self.queue: deque[Any] = deque()
        self.crew = Crew(env, count, up, self._finish, self._serve)

    def _serve(self) -> None:
        free = self.crew.free
        while free and self.queue:
            self._start(free.popleft())

    def put(self, item: Any) -> None:
        self.queue.append(item)
        if self.crew.free:
            self._start(self.crew.free.popleft())

    def _start(self, k: int) -> None:
        queue = self.queue
        items = [queue.popleft() for _ in range(min(self.batch, len(queue)))]
        self.begin(k, items, self.env.now)
        self.crew.begin(k, items, self.duration())

    def _finish(self, run: Run) -> None:
        k = run.unit
        self.done(k, run.items, run.start, self.env.now)
        if not self.crew.goes_on(k):
            return
        if self.queue:
            self._start(k)
        else:
            self.crew.free.append(k)


class LabService:
    """One lab's stages wired together; ``deliver`` is what vehicles call."""

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        lab: Lab,
        opens_at: float,
        ledger: Ledger,
        streams: Streams,
        entries: Entries | None = None,
    ) -> None:
        self.env = env
        self.index = index
        self.lab = lab
        self.config = lab  # what vehicles and dispatch read of a lab
        self.coming = 0
        self.in_hand = 0
        self.ledger = ledger
        self.opens_at = opens_at
        self.per_plate = lab.pcr.samples_per_plate
        self.waiting: deque[list[float]] = (
            deque()
        )  # [lo, hi, received] tube ranges awaiting a plate
        self.n_waiting = 0
        self.load_time = durations(lab.loading.per_plate, streams[f"lab/{lab.id}/loading"])
        self._timer_for: float = (
            np.nan
        )  # the oldest tube's receipt time a partial-plate timer is set for
        up = not opens_at > env.now

        def source(stage: str, dist: DurationDist) -> Buffered:
            return durations(dist, streams[f"lab/{lab.id}/{stage}"])

        self.receiving = Servers(
            env,
            lab.receiving.staff,
            1,
            source("receiving", lab.receiving.per_bag),
            up,
            self._receiving,
            self._received,
        )
        self.extraction = Servers(
            env,
            lab.extraction.instruments,
            lab.extraction.plates_per_run,
            source("extraction", lab.extraction.run),
            up,
            self._extracting,
            self._extracted,
        )
        self.pcr = Servers(
            env,
            lab.pcr.instruments,
            1,
            source("pcr", lab.pcr.run),
            up,
            self._amplifying,
            self._amplified,
        )
        self.report = Servers(
            env,
            lab.report.staff,
            1,
            source("report", lab.report.per_plate),
            up,
            self._reporting,
            self._reported,
        )
        self.loaders = Crew(env, lab.loading.staff, up, self._loaded, self._form_plates)
        self.crews = {
            "receiving": self.receiving.crew,
            "loading": self.loaders,
            "extraction": self.extraction.crew,
            "pcr": self.pcr.crew,
            "report": self.report.crew,
        }
        # every booking of one instant, by stage: (units more out, rule); the opening too
        instants: dict[float, dict[str, list[tuple[int, int]]]] = {}
        for name, es in (entries or {}).items():
            for e in es:
                instants.setdefault(e.start, {}).setdefault(name, []).append((e.units, e.rule))
                instants.setdefault(e.end, {}).setdefault(name, []).append((-e.units, e.rule))
        if not up:
            instants.setdefault(opens_at, {})
        for t, bookings in instants.items():
            self._at(t, partial(self._change, t == opens_at and not up, bookings))

    # -- the calendar --------------------------------------------------------------
    def _at(self, t: float, action: Callable[[], None]) -> None:
        self.env.timeout(t - self.env.now).callbacks.append(lambda _: action())

    def _change(self, opening: bool, bookings: dict[str, list[tuple[int, int]]]) -> None:
        """Everything the calendar changes at this instant, counted up before any unit moves:
        the lab opens, entries start (units more out) and end. A stage's units going out
        follow the rule of the first entry starting now; the stages are then brought to
        their new level in order, plate loading last."""
        for name in STAGE_ORDER:
            crew = self.crews[name]
            if opening:
                crew.closed = False
            for units, _ in bookings.get(name, []):
                crew.booked += units
        for name in STAGE_ORDER:
            if opening or name in bookings:
                starting = [rule for units, rule in bookings.get(name, []) if units > 0]
                self.crews[name].update(starting[0] if starting else RESUME)

    # -- receiving ---------------------------------------------------------------
    def deliver(self, bags: list[Bag], scheduled: float = 0.0) -> None:
        ledger = self.ledger
        now = self.env.now
        for lo, hi, point in bags:
            bag_id = len(ledger.bags)
            ledger.bags.append(RefBag(bag_id, self.index, point, lo, hi, now))  # type: ignore[arg-type]
            ledger.tube_lab[lo:hi] = self.index
            ledger.tube_bag[lo:hi] = bag_id
            self.in_hand += hi - lo
            self.receiving.put(bag_id)

    def _receiving(self, staff: int, bag_ids: list[int], start: float) -> None:
        for bag_id in bag_ids:
            bag = cast(RefBag, self.ledger.bags[bag_id])
            bag.receive_start, bag.staff = start, staff

    def _received(self, staff: int, bag_ids: list[int], start: float, end: float) -> None:
        ledger = self.ledger
        for bag_id in bag_ids:
            bag = cast(RefBag, ledger.bags[bag_id])
            bag.received = end
            ledger.tube_received[bag.lo : bag.hi] = end
            self.waiting.append([bag.lo, bag.hi, end])
            self.n_waiting += bag.hi - bag.lo
        self._form_plates()

    # -- plates ------------------------------------------------------------------
    def _form_plates(self) -> None:
        """Start loading plates while a loader is free and a full or overdue plate waits."""
        now = self.env.now
        wait_limit = self.lab.partial_plate_after
        free = self.loaders.free
        while (
            free
            and self.n_waiting
            and (self.n_waiting >= self.per_plate or now >= self.waiting[0][2] + wait_limit)
        ):
            plate = self._take_plate()
            plate.loader = free.popleft()
            self.loaders.begin(plate.loader, [plate], self.load_time())
        if self.n_waiting and self.waiting[0][2] != self._timer_for:
            # wake when the oldest waiting tube becomes overdue
            self._timer_for = self.waiting[0][2]
            due = max(0.0, self._timer_for + wait_limit - now)
            self.env.timeout(due).callbacks.append(lambda _: self._form_plates())

    def _take_plate(self) -> RefPlate:
        ledger = self.ledger
        want = min(self.per_plate, self.n_waiting)
        ranges: list[tuple[int, int]] = []
        got = 0
        while got < want:
            entry = self.waiting[0]
            lo, hi = int(entry[0]), int(entry[1])
            take = min(hi - lo, want - got)
            ranges.append((lo, lo + take))
            got += take
            if lo + take == hi:
                self.waiting.popleft()
            else:
                entry[0] = lo + take
        self.n_waiting -= got
        plate = RefPlate(
            id=len(ledger.plates), lab=self.index, ranges=ranges, tubes=got, formed=self.env.now
        )
        ledger.plates.append(plate)  # type: ignore[arg-type]
        for lo, hi in ranges:
            ledger.tube_plate[lo:hi] = plate.id
        return plate

    def _loaded(self, run: Run) -> None:
        plate = cast(RefPlate, run.items[0])
        plate.loaded = self.env.now
        if self.loaders.goes_on(run.unit):
            self.loaders.free.append(run.unit)
        self.extraction.put(plate)
        self._form_plates()

    # each stage stamps a plate when its run starts (a run cut by the horizon still shows) and ends
    def _extracting(self, instrument: int, plates: list[RefPlate], start: float) -> None:
        for plate in plates:
            plate.extraction_instrument, plate.extraction_start = instrument, start

    def _extracted(self, instrument: int, plates: list[RefPlate], start: float, end: float) -> None:
        for plate in plates:
            plate.extraction_end = end
            self.pcr.put(plate)

    def _amplifying(self, instrument: int, plates: list[RefPlate], start: float) -> None:
        for plate in plates:
            plate.pcr_instrument, plate.pcr_start = instrument, start

    def _amplified(self, instrument: int, plates: list[RefPlate], start: float, end: float) -> None:
        for plate in plates:
            plate.pcr_end = end
            self.report.put(plate)

    def _reporting(self, staff: int, plates: list[RefPlate], start: float) -> None:
        for plate in plates:
            plate.report_start = start

    def _reported(self, staff: int, plates: list[RefPlate], start: float, end: float) -> None:
        for plate in plates:
            plate.reported = end
            self.in_hand -= plate.tubes


def build_lab(
    env: simpy.Environment,
    index: int,
    lab: Lab,
    start: float,
    ledger: Ledger,
    streams: Streams,
    entries: Entries | None = None,
) -> LabService:
    opens_at = 0.0 if lab.opens is None else lab.opens - start
    return LabService(env, index, lab, opens_at, ledger, streams, entries)


class ReferenceLabs(Mapping[str, LabService]):
    """Every lab of a replication, by id, built from the arguments ``sim.model.lab.Labs`` takes.

    Runs in the engine's SimPy environment (its events are plain SimPy timeouts,
    so a round with reference labs cannot be saved as a state). ``entries[k]``
    are lab k's calendar entries (stage name -> ``PoolEntry`` rows).
    """

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
        assert not restoring, "a round with reference labs cannot be carried on from a state"
        env = engine.env
        self._labs = {
            lab.id: build_lab(env, k, lab, start, ledger, streams, entries[k] if entries else None)
            for k, lab in enumerate(labs)
        }
        self.by_index = list(self._labs.values())

    def __getitem__(self, key: str) -> LabService:
        return self._labs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labs)

    def __len__(self) -> int:
        return len(self._labs)
