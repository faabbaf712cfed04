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
waiting plates per run), amplified on a PCR instrument (a whole plate, never
interrupted) and analysed and uploaded by a report staff member; a tube's result
is out when its plate's report is. Nothing happens before the lab ``opens``.
Every queue is first come, first served.

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
from sim.model.draws import Buffered, durations
from sim.model.ledger import Ledger
from sim.random import Streams
from sim.scenario.schema import Lab

Bag = tuple[int, int, int]  # tube range lo:hi and the point it came from


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


class Servers:
    """``count`` identical servers taking up to ``batch`` items per run from one FIFO queue.

    The server idle longest takes the next item; its number is the instrument
    or staff number in the records. Driven by callbacks: a run costs one SimPy
    timeout, not a process and a store round trip.
    """

    def __init__(
        self,
        env: simpy.Environment,
        count: int,
        batch: int,
        duration: Buffered,
        opens_at: float,
        begin: Begin,
        done: Done,
    ) -> None:
        self.env = env
        self.batch = batch
        self.duration = duration
        self.begin = begin
        self.done = done
        self.queue: deque[Any] = deque()
        self.idle: deque[int] = deque()
        if opens_at > env.now:
            env.timeout(opens_at - env.now).callbacks.append(lambda _: self._open(count))
        else:
            self.idle.extend(range(count))

    def _open(self, count: int) -> None:
        self.idle.extend(range(count))
        while self.idle and self.queue:
            self._start(self.idle.popleft())

    def put(self, item: Any) -> None:
        self.queue.append(item)
        if self.idle:
            self._start(self.idle.popleft())

    def _start(self, k: int) -> None:
        queue = self.queue
        items = [queue.popleft() for _ in range(min(self.batch, len(queue)))]
        start = self.env.now
        self.begin(k, items, start)
        self.env.timeout(self.duration(), (k, items, start)).callbacks.append(self._finish)

    def _finish(self, event: simpy.Event) -> None:
        k, items, start = cast(tuple[int, list[Any], float], event.value)
        self.done(k, items, start, self.env.now)
        if self.queue:
            self._start(k)
        else:
            self.idle.append(k)


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
        self.loaders: deque[int] = deque()
        self.load_time = durations(lab.loading.per_plate, streams[f"{lab.id}/loading"])
        self._timer_for: float = (
            np.nan
        )  # the oldest tube's receipt time a partial-plate timer is set for

        def source(stage: str, dist: DurationDist) -> Buffered:
            return durations(dist, streams[f"{lab.id}/{stage}"])

        self.receiving = Servers(
            env,
            lab.receiving.staff,
            1,
            source("receiving", lab.receiving.per_bag),
            opens_at,
            self._receiving,
            self._received,
        )
        self.extraction = Servers(
            env,
            lab.extraction.instruments,
            lab.extraction.plates_per_run,
            source("extraction", lab.extraction.run),
            opens_at,
            self._extracting,
            self._extracted,
        )
        self.pcr = Servers(
            env,
            lab.pcr.instruments,
            1,
            source("pcr", lab.pcr.run),
            opens_at,
            self._amplifying,
            self._amplified,
        )
        self.report = Servers(
            env,
            lab.report.staff,
            1,
            source("report", lab.report.per_plate),
            opens_at,
            self._reporting,
            self._reported,
        )
        if opens_at > env.now:
            env.timeout(opens_at - env.now).callbacks.append(lambda _: self._open_loading())
        else:
            self._open_loading()

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
    def _open_loading(self) -> None:
        self.loaders.extend(range(self.lab.loading.staff))
        self._form_plates()

    def _form_plates(self) -> None:
        """Start loading plates while a loader is free and a full or overdue plate waits."""
        now = self.env.now
        wait_limit = self.lab.partial_plate_after
        while (
            self.loaders
            and self.n_waiting
            and (self.n_waiting >= self.per_plate or now >= self.waiting[0][2] + wait_limit)
        ):
            plate = self._take_plate()
            plate.loader = self.loaders.popleft()
            self.env.timeout(self.load_time()).callbacks.append(partial(self._loaded, plate))
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

    def _loaded(self, plate: RefPlate, _event: simpy.Event | None = None) -> None:
        plate.loaded = self.env.now
        self.loaders.append(plate.loader)
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
    env: simpy.Environment, index: int, lab: Lab, start: float, ledger: Ledger, streams: Streams
) -> LabService:
    opens_at = 0.0 if lab.opens is None else lab.opens - start
    return LabService(env, index, lab, opens_at, ledger, streams)


class ReferenceLabs(Mapping[str, LabService]):
    """Every lab of a replication, by id, built from the arguments ``sim.model.lab.Labs`` takes.

    Runs in the engine's SimPy environment (its events are plain SimPy timeouts,
    so a round with reference labs cannot be saved as a state). Calendar entries
    other than the opening are not simulated here.
    """

    def __init__(
        self,
        engine: Any,
        labs: Sequence[Lab],
        start: float,
        ledger: Ledger,
        streams: Streams,
        entries: Any = None,
    ) -> None:
        assert not entries or not any(entries), "the reference lab has no outages"
        env = engine.env
        self._labs = {
            lab.id: build_lab(env, k, lab, start, ledger, streams) for k, lab in enumerate(labs)
        }
        self.by_index = list(self._labs.values())

    def __getitem__(self, key: str) -> LabService:
        return self._labs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._labs)

    def __len__(self) -> int:
        return len(self._labs)
