"""Testing (检) and reporting (报) in one laboratory.

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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from ..distributions import DurationDist
from ..random import Streams
from ..scenario.schema import Lab
from .ledger import Ledger, Plate
from .transport import Bag

Done = Callable[[int, list[Any], float, float], None]


class Servers:
    """``count`` identical servers taking up to ``batch`` items per run from one FIFO queue.

    The server that has been idle longest takes the next item; its number is the
    instrument or staff number in the records.
    """

    def __init__(
        self,
        env: simpy.Environment,
        count: int,
        batch: int,
        duration: DurationDist,
        rng: np.random.Generator,
        opens_at: float,
        done: Done,
    ) -> None:
        self.env = env
        self.store: simpy.Store = simpy.Store(env)
        self.batch = batch
        self.duration = duration
        self.rng = rng
        self.done = done
        self.opens_at = opens_at
        for k in range(count):
            env.process(self._serve(k))

    def put(self, item: Any) -> None:
        self.store.put(item)

    def _serve(self, k: int) -> Generator[Any, Any, None]:
        env = self.env
        if self.opens_at > env.now:
            yield env.timeout(self.opens_at - env.now)
        while True:
            first = yield self.store.get()
            items = [first]
            while len(items) < self.batch and self.store.items:
                items.append(self.store.items.pop(0))
            start = env.now
            yield env.timeout(float(self.duration.sample(self.rng, 1)[0]))
            self.done(k, items, start, env.now)


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
        self.ledger = ledger
        self.opens_at = opens_at
        self.per_plate = lab.pcr.samples_per_plate
        self.waiting: deque[list[float]] = (
            deque()
        )  # [lo, hi, received] tube ranges awaiting a plate
        self.n_waiting = 0
        self._arrived = env.event()
        self.loaders: simpy.Store = simpy.Store(env)
        self.loaders.items.extend(range(lab.loading.staff))
        self.load_rng = streams[f"{lab.id}/loading"]
        self.receiving = Servers(
            env,
            lab.receiving.staff,
            1,
            lab.receiving.per_bag,
            streams[f"{lab.id}/receiving"],
            opens_at,
            self._received,
        )
        self.extraction = Servers(
            env,
            lab.extraction.instruments,
            lab.extraction.plates_per_run,
            lab.extraction.run,
            streams[f"{lab.id}/extraction"],
            opens_at,
            self._extracted,
        )
        self.pcr = Servers(
            env,
            lab.pcr.instruments,
            1,
            lab.pcr.run,
            streams[f"{lab.id}/pcr"],
            opens_at,
            self._amplified,
        )
        self.report = Servers(
            env,
            lab.report.staff,
            1,
            lab.report.per_plate,
            streams[f"{lab.id}/report"],
            opens_at,
            self._reported,
        )
        env.process(self._form_plates())

    # -- receiving ---------------------------------------------------------------
    def deliver(self, bags: list[Bag]) -> None:
        ledger = self.ledger
        for lo, hi, point in bags:
            bag_id = len(ledger.bags)
            ledger.bags.append(
                (bag_id, self.index, point, lo, hi, self.env.now, np.nan, np.nan, -1)
            )
            ledger.tube_lab[lo:hi] = self.index
            ledger.tube_bag[lo:hi] = bag_id
            self.receiving.put(bag_id)

    def _received(self, staff: int, bag_ids: list[int], start: float, end: float) -> None:
        ledger = self.ledger
        for bag_id in bag_ids:
            _, lab, point, lo, hi, delivered, _, _, _ = ledger.bags[bag_id]
            ledger.bags[bag_id] = (bag_id, lab, point, lo, hi, delivered, start, end, staff)
            ledger.tube_received[lo:hi] = end
            self.waiting.append([lo, hi, end])
            self.n_waiting += hi - lo
        if not self._arrived.triggered:
            self._arrived.succeed()

    # -- plates ------------------------------------------------------------------
    def _form_plates(self) -> Generator[Any, Any, None]:
        env = self.env
        wait_limit = self.lab.partial_plate_after
        if self.opens_at > env.now:
            yield env.timeout(self.opens_at - env.now)
        while True:
            now = env.now
            if self.n_waiting >= self.per_plate or (
                self.n_waiting and now >= self.waiting[0][2] + wait_limit
            ):
                loader = yield self.loaders.get()
                plate = self._take_plate()
                plate.loader = loader
                env.process(self._load(plate, loader))
                continue
            if self._arrived.triggered:
                self._arrived = env.event()
            waits: list[simpy.Event] = [self._arrived]
            if self.n_waiting:
                waits.append(env.timeout(self.waiting[0][2] + wait_limit - now))
            yield env.any_of(waits)

    def _take_plate(self) -> Plate:
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
        plate = Plate(
            id=len(ledger.plates), lab=self.index, ranges=ranges, tubes=got, formed=self.env.now
        )
        ledger.plates.append(plate)
        for lo, hi in ranges:
            ledger.tube_plate[lo:hi] = plate.id
        return plate

    def _load(self, plate: Plate, loader: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(float(self.lab.loading.per_plate.sample(self.load_rng, 1)[0]))
        self.loaders.put(loader)
        plate.loaded = self.env.now
        self.extraction.put(plate)

    def _extracted(self, instrument: int, plates: list[Plate], start: float, end: float) -> None:
        for plate in plates:
            plate.extraction_instrument, plate.extraction_start, plate.extraction_end = (
                instrument,
                start,
                end,
            )
            self.pcr.put(plate)

    def _amplified(self, instrument: int, plates: list[Plate], start: float, end: float) -> None:
        for plate in plates:
            plate.pcr_instrument, plate.pcr_start, plate.pcr_end = instrument, start, end
            self.report.put(plate)

    def _reported(self, staff: int, plates: list[Plate], start: float, end: float) -> None:
        for plate in plates:
            plate.report_start, plate.reported = start, end


def build_lab(
    env: simpy.Environment, index: int, lab: Lab, start: float, ledger: Ledger, streams: Streams
) -> LabService:
    opens_at = 0.0 if lab.opens is None else lab.opens - start
    return LabService(env, index, lab, opens_at, ledger, streams)
