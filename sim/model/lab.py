"""Testing (检) and reporting (报) in the laboratories.

The rules. Delivered bags are received one bag per receiving staff member
(unpack, disinfect, scan). Received tubes wait, oldest first, to be loaded on a
plate: when a loading staff member is free and a full plate's worth of tubes
(``wells - controls``) waits, or the oldest waiting tube has waited
``partial_plate_after``, the staff member takes up to a plate's worth and loads
it. Loaded plates are extracted (an instrument takes up to ``plates_per_run``
waiting plates per run), amplified on a PCR instrument (a whole plate, never
interrupted) and analysed and uploaded by a report staff member; a tube's result
is out when its plate's report is. Nothing happens before the lab ``opens``.
Every queue is first come, first served, and the server (staff member or
instrument) idle longest takes the next item; its number is the one recorded.

How it is simulated. A lab feeds nothing back to points or vehicles, so its
whole history is a function of its deliveries (time, bags) and its duration
draws. During the SimPy run a lab therefore only records what vehicles hand
over (:meth:`Labs.deliver`: the bag rows, as they arrive); after
``env.run(until=horizon)`` :meth:`Labs.finish` runs every lab in one compiled
discrete-event loop (:func:`run_labs`) and fills the ledger: bag receive times
and staff, ``tube_lab``, ``tube_bag``, ``tube_received``, ``tube_plate`` and the
:class:`~sim.model.ledger.Plate` records. At 10 M residents this replaces about
65,000 SimPy timeouts and their Python callbacks (1.2-1.5 s) by a loop of a few
milliseconds. If a lab ever has to act on the rest of the round (positive pools
recalling residents, priority transport, instrument failures that change what
vehicles do), that feedback must be built into this kernel, or the lab moved
back into SimPy.

The loop reproduces, event for event, the SimPy servers it replaced (kept as
``tests/reference_lab.py``; the tests run both on the same deliveries and
streams):

* durations come from the same named streams in the same order
  (``<lab>/receiving``, ``/loading``, ``/extraction``, ``/pcr``, ``/report``, one
  draw per run started), drawn up front: numpy fills a block element by
  element, so the k-th value does not depend on the block size;
* simultaneous events are processed in the order SimPy would: by the time they
  were scheduled, then in scheduling order (SimPy's event counter). A delivery
  comes after the lab events due at the same instant that were scheduled before
  the vehicle's last leg was, and before those scheduled later (transport passes
  that instant with the bags; a lab event scheduled at the same instant counts as
  scheduled first);
* the horizon: events due at or after it never happen; a run that started
  before it keeps its start stamp and has no end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import chain

import numpy as np
import simpy
from numba import njit

from ..distributions import DurationDist
from ..random import Streams
from ..scenario.schema import Lab
from .ledger import Ledger, Plate
from .transport import Bag

# stages: rows of the draw table, columns of the per-stage tables
RECEIVING, LOADING, EXTRACTION, PCR, REPORT = 0, 1, 2, 3, 4
STAGES = ("receiving", "loading", "extraction", "pcr", "report")
# the order SimPy schedules a delayed opening in: the four servers, then loading
_OPEN_ORDER = (RECEIVING, EXTRACTION, PCR, REPORT, LOADING)

# event kinds and the columns of an event's integer record
_OPEN, _DONE, _LOADED, _TIMER = 0, 1, 2, 3
_KIND, _LAB, _STAGE, _SERVER, _A, _B = 0, 1, 2, 3, 4, 5

# per-lab counters
_Q_HEAD, _Q_TAIL = 0, 1  # receiving queue: bags started, bags delivered
_W_HEAD, _W_TAIL, _N_WAITING = 2, 3, 4  # received tube ranges waiting for a plate
_PLATES = 5  # plates formed
_HEAD = 6  # + (stage - EXTRACTION): first waiting plate of the extraction, PCR, report queues
_TAIL = 9  # + (stage - EXTRACTION): end of those queues
_DRAWN = 12  # + stage: draws used
_N_COUNTERS = 17

# plate record columns (float, int)
PF_FORMED, PF_LOADED = 0, 1
PF_EXTRACTION_START, PF_EXTRACTION_END = 2, 3
PF_PCR_START, PF_PCR_END = 4, 5
PF_REPORT_START, PF_REPORTED = 6, 7
PI_LAB, PI_TUBES, PI_LOADER, PI_EXTRACTION, PI_PCR, PI_RANGES_END = 0, 1, 2, 3, 4, 5


@njit(cache=True)
def _push(
    t: float,
    now: float,
    kind: int,
    k: int,
    stage: int,
    server: int,
    a: int,
    b: int,
    ev_scheduled: np.ndarray,
    ev: np.ndarray,
    heap_time: np.ndarray,
    heap: np.ndarray,
    count: np.ndarray,
) -> None:
    """Schedule an event due at ``t`` (event number: the next; heap: by time, then number).

    A function of its own rather than a closure in :func:`run_labs`: numba inlines
    closures at every call site, and this one is called from many.
    """
    e = count[0]
    if e >= ev.shape[0]:
        raise RuntimeError("lab kernel: event table full")
    count[0] = e + 1
    ev_scheduled[e] = now
    ev[e, _KIND] = kind
    ev[e, _LAB] = k
    ev[e, _STAGE] = stage
    ev[e, _SERVER] = server
    ev[e, _A] = a
    ev[e, _B] = b
    i = count[1]
    count[1] = i + 1
    while i > 0:  # e is the newest event, so it goes after every other one due at t
        parent = (i - 1) // 2
        if heap_time[parent] <= t:
            break
        heap_time[i] = heap_time[parent]
        heap[i] = heap[parent]
        i = parent
    heap_time[i] = t
    heap[i] = e


@njit(cache=True)
def run_labs(
    horizon: float,
    opens_at: np.ndarray,
    wait_limit: np.ndarray,
    servers: np.ndarray,
    batch: np.ndarray,
    per_plate: np.ndarray,
    bag_lab: np.ndarray,
    bag_lo: np.ndarray,
    bag_hi: np.ndarray,
    call_time: np.ndarray,
    call_scheduled: np.ndarray,
    call_end: np.ndarray,
    lab_bags: np.ndarray,
    bag_off: np.ndarray,
    plate_off: np.ndarray,
    draws: np.ndarray,
    first_bag: int,
    first_plate: int,
    tube_lab: np.ndarray,
    tube_bag: np.ndarray,
    tube_received: np.ndarray,
    tube_plate: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every lab's history from its deliveries, as one discrete-event loop.

    Labs ``k`` have ``servers[k, stage]`` servers, extraction runs of up to
    ``batch[k]`` plates and plates of ``per_plate[k]`` tubes. Bag ``b`` (in
    delivery order; ledger id ``first_bag + b``) holds tubes ``bag_lo[b]:bag_hi[b]``
    for lab ``bag_lab[b]``; delivery call ``i`` handed over bags
    ``call_end[i - 1]:call_end[i]`` at ``call_time[i]``, from an event SimPy had
    scheduled at ``call_scheduled[i]``. ``lab_bags[bag_off[k]:bag_off[k + 1]]``
    are lab ``k``'s bags in delivery order. ``draws[stage]`` holds each lab's
    durations, in the order they are used, from ``bag_off[k]`` (receiving) or
    ``plate_off[k]`` (the plate stages); ``plate_off`` leaves room for as many
    plates as a lab can form.

    Writes the ledger's tube arrays in place. Returns each bag's receive start,
    end and staff (-1: never started), the plates' float and int records
    (``PF_*``, ``PI_*`` columns; plates in the order they were formed, which is
    their id less ``first_plate``) and the tube ranges ``lo``, ``hi`` of every
    plate (plate p's are those before ``PI_RANGES_END`` and from its predecessor's).
    """
    n_labs = opens_at.size
    n_bags = bag_lab.size
    n_calls = call_time.size
    plate_cap = plate_off[n_labs]
    event_cap = 5 * n_labs + 2 * n_bags + 4 * plate_cap + 1

    bag_start = np.full(n_bags, np.nan)
    bag_end = np.full(n_bags, np.nan)
    bag_staff = np.full(n_bags, -1, np.int64)
    pf = np.full((plate_cap, 8), np.nan)
    pi = np.full((plate_cap, 6), -1, np.int64)
    range_lo = np.empty(plate_cap + n_bags, np.int64)
    range_hi = np.empty(plate_cap + n_bags, np.int64)

    # the waiting tube ranges of lab k live at bag_off[k] + (W_HEAD .. W_TAIL)
    w_lo = np.empty(n_bags, np.int64)
    w_hi = np.empty(n_bags, np.int64)
    w_received = np.empty(n_bags)
    timer_for = np.full(n_labs, np.nan)  # the oldest receipt a partial-plate timer is set for
    # plates queued for extraction, PCR and report, at plate_off[k] + (HEAD .. TAIL)
    queue = np.empty((3, plate_cap), np.int64)
    state = np.zeros((n_labs, _N_COUNTERS), np.int64)

    # idle servers of each lab and stage: a ring at ring_off, longest idle first
    ring_off = np.zeros((n_labs, 5), np.int64)
    total = 0
    for k in range(n_labs):
        for s in range(5):
            ring_off[k, s] = total
            total += servers[k, s]
    ring = np.empty(max(total, 1), np.int64)
    ring_head = np.zeros((n_labs, 5), np.int64)
    ring_size = np.zeros((n_labs, 5), np.int64)

    # events: when due, when scheduled, what; a binary heap of (due, event number), the
    # number counting events in the order they were scheduled (the heap holds the times
    # it compares: looking them up in the event table missed the cache)
    ev_scheduled = np.empty(event_cap)
    ev = np.empty((event_cap, 6), np.int64)
    heap_time = np.empty(event_cap)
    heap = np.empty(event_cap, np.int64)
    count = np.zeros(4, np.int64)  # events, heap size, plates, ranges
    clock = np.zeros(1)

    def schedule(t: float, kind: int, k: int, stage: int, server: int, a: int, b: int) -> None:
        _push(t, clock[0], kind, k, stage, server, a, b, ev_scheduled, ev, heap_time, heap, count)

    def pop() -> int:
        top = heap[0]
        n = count[1] - 1
        count[1] = n
        last, last_time = heap[n], heap_time[n]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= n:
                break
            c, c_time = heap[child], heap_time[child]
            if child + 1 < n:
                d, d_time = heap[child + 1], heap_time[child + 1]
                if d_time < c_time or (d_time == c_time and d < c):
                    child += 1
                    c, c_time = d, d_time
            if last_time < c_time or (last_time == c_time and last < c):
                break
            heap[i], heap_time[i] = c, c_time
            i = child
        heap[i], heap_time[i] = last, last_time
        return top

    def idle_push(k: int, s: int, server: int) -> None:
        ring[ring_off[k, s] + (ring_head[k, s] + ring_size[k, s]) % servers[k, s]] = server
        ring_size[k, s] += 1

    def idle_pop(k: int, s: int) -> int:
        server = ring[ring_off[k, s] + ring_head[k, s]]
        ring_head[k, s] = (ring_head[k, s] + 1) % servers[k, s]
        ring_size[k, s] -= 1
        return server

    def draw(k: int, s: int) -> float:
        used = state[k, _DRAWN + s]
        if s == RECEIVING:
            at, end = bag_off[k] + used, bag_off[k + 1]
        else:
            at, end = plate_off[k] + used, plate_off[k + 1]
        if at >= end:
            raise RuntimeError("lab kernel: more runs than draws")
        state[k, _DRAWN + s] = used + 1
        return draws[s, at]

    def queued(k: int, s: int) -> int:
        if s == RECEIVING:
            return state[k, _Q_TAIL] - state[k, _Q_HEAD]
        return state[k, _TAIL + s - EXTRACTION] - state[k, _HEAD + s - EXTRACTION]

    def start(k: int, s: int, server: int) -> None:
        """Server ``server`` of stage ``s`` starts a run with the head of its queue."""
        now = clock[0]
        if s == RECEIVING:
            head = lab_bags[bag_off[k] + state[k, _Q_HEAD]]  # the bag
            take = 1
            state[k, _Q_HEAD] += 1
            bag_start[head] = now
            bag_staff[head] = server
        else:
            q = s - EXTRACTION
            head = state[k, _HEAD + q]  # the run's first plate in the queue
            take = min(batch[k] if s == EXTRACTION else 1, state[k, _TAIL + q] - head)
            state[k, _HEAD + q] = head + take
            for j in range(take):
                plate = queue[q, plate_off[k] + head + j]
                if s == EXTRACTION:
                    pi[plate, PI_EXTRACTION] = server
                    pf[plate, PF_EXTRACTION_START] = now
                elif s == PCR:
                    pi[plate, PI_PCR] = server
                    pf[plate, PF_PCR_START] = now
                else:
                    pf[plate, PF_REPORT_START] = now
        schedule(now + draw(k, s), _DONE, k, s, server, head, take)

    def put(k: int, s: int, plate: int) -> None:
        """A plate joins the queue of stage ``s``; an idle server takes it at once."""
        q = s - EXTRACTION
        tail = state[k, _TAIL + q]
        queue[q, plate_off[k] + tail] = plate
        state[k, _TAIL + q] = tail + 1
        if ring_size[k, s] > 0:
            start(k, s, idle_pop(k, s))

    def take_plate(k: int) -> int:
        """Form a plate of up to a plate's worth of the oldest waiting tubes."""
        p = count[2]
        if state[k, _PLATES] >= plate_off[k + 1] - plate_off[k]:
            raise RuntimeError("lab kernel: more plates than room for them")
        count[2] = p + 1
        state[k, _PLATES] += 1
        want = min(per_plate[k], state[k, _N_WAITING])
        got = 0
        r = count[3]
        while got < want:
            w = bag_off[k] + state[k, _W_HEAD]
            lo, hi = w_lo[w], w_hi[w]
            take = min(hi - lo, want - got)
            range_lo[r] = lo
            range_hi[r] = lo + take
            r += 1
            tube_plate[lo : lo + take] = first_plate + p
            got += take
            if lo + take == hi:
                state[k, _W_HEAD] += 1
            else:
                w_lo[w] = lo + take
        count[3] = r
        state[k, _N_WAITING] -= got
        pf[p, PF_FORMED] = clock[0]
        pi[p, PI_LAB] = k
        pi[p, PI_TUBES] = got
        pi[p, PI_RANGES_END] = r
        return p

    def form_plates(k: int) -> None:
        """Load plates while a loader is free and a full or overdue plate waits; then
        make sure a timer rings when the oldest waiting tube becomes overdue."""
        now = clock[0]
        limit = wait_limit[k]
        while (
            ring_size[k, LOADING] > 0
            and state[k, _N_WAITING] > 0
            and (
                state[k, _N_WAITING] >= per_plate[k]
                or now >= w_received[bag_off[k] + state[k, _W_HEAD]] + limit
            )
        ):
            p = take_plate(k)
            loader = idle_pop(k, LOADING)
            pi[p, PI_LOADER] = loader
            schedule(now + draw(k, LOADING), _LOADED, k, LOADING, loader, p, 0)
        if state[k, _N_WAITING] > 0:
            oldest = w_received[bag_off[k] + state[k, _W_HEAD]]
            if oldest != timer_for[k]:
                timer_for[k] = oldest
                schedule(now + max(0.0, oldest + limit - now), _TIMER, k, LOADING, -1, 0, 0)

    def run_ended(k: int, s: int, a: int, b: int) -> None:
        """Record the end of a run (bag ``a``, or the ``b`` plates queued from ``a``) and
        pass plates on to the next stage."""
        now = clock[0]
        if s == RECEIVING:
            lo, hi = bag_lo[a], bag_hi[a]
            bag_end[a] = now
            tube_received[lo:hi] = now
            w = bag_off[k] + state[k, _W_TAIL]
            w_lo[w], w_hi[w], w_received[w] = lo, hi, now
            state[k, _W_TAIL] += 1
            state[k, _N_WAITING] += hi - lo
            return
        q = s - EXTRACTION
        for j in range(b):
            plate = queue[q, plate_off[k] + a + j]
            if s == EXTRACTION:
                pf[plate, PF_EXTRACTION_END] = now
            elif s == PCR:
                pf[plate, PF_PCR_END] = now
            else:
                pf[plate, PF_REPORTED] = now
            if s != REPORT:
                put(k, s + 1, plate)

    for b in range(n_bags):
        tube_lab[bag_lo[b] : bag_hi[b]] = bag_lab[b]
        tube_bag[bag_lo[b] : bag_hi[b]] = first_bag + b
    # at time 0: a lab already open has every server idle; a later opening is scheduled
    for k in range(n_labs):
        for s in _OPEN_ORDER:
            if opens_at[k] > 0.0:
                schedule(opens_at[k], _OPEN, k, s, -1, 0, 0)
            else:
                for j in range(servers[k, s]):
                    idle_push(k, s, j)

    call = 0
    while True:
        lab_due = count[1] > 0 and heap_time[0] < horizon
        if call < n_calls:
            t = call_time[call]
            if not lab_due:
                first = True
            else:
                e = heap[0]
                due = heap_time[0]
                first = t < due or (t == due and call_scheduled[call] < ev_scheduled[e])
            if first:
                clock[0] = t
                for b in range(call_end[call - 1] if call > 0 else 0, call_end[call]):
                    k = bag_lab[b]
                    state[k, _Q_TAIL] += 1
                    if ring_size[k, RECEIVING] > 0:
                        start(k, RECEIVING, idle_pop(k, RECEIVING))
                call += 1
                continue
        if not lab_due:
            break
        clock[0] = heap_time[0]
        e = pop()
        kind, k, s = ev[e, _KIND], ev[e, _LAB], ev[e, _STAGE]
        # (each helper is called from one place: numba inlines closures at every call)
        if kind == _DONE:
            run_ended(k, s, ev[e, _A], ev[e, _B])
        elif kind == _LOADED:
            p = ev[e, _A]
            pf[p, PF_LOADED] = clock[0]
            idle_push(k, LOADING, ev[e, _SERVER])
            put(k, EXTRACTION, p)
        elif kind == _OPEN:
            for j in range(servers[k, s]):
                idle_push(k, s, j)
            while s != LOADING and ring_size[k, s] > 0 and queued(k, s) > 0:
                start(k, s, idle_pop(k, s))
        # plates are formed after a receipt, a load, a timer and the loaders' opening
        if kind in (_LOADED, _TIMER) or (kind, s) in ((_DONE, RECEIVING), (_OPEN, LOADING)):
            form_plates(k)
        # the server of a finished run takes the next item, or waits
        if kind == _DONE:
            server = ev[e, _SERVER]
            if queued(k, s) > 0:
                start(k, s, server)
            else:
                idle_push(k, s, server)

    n_plates, n_ranges = count[2], count[3]
    return (
        bag_start,
        bag_end,
        bag_staff,
        pf[:n_plates],
        pi[:n_plates],
        range_lo[:n_ranges],
        range_hi[:n_ranges],
    )


def stage_durations(dist: DurationDist, streams: Streams, name: str, n: int) -> np.ndarray:
    """The first ``n`` durations of a stage, as the SimPy lab drew them one by one.

    A fixed duration draws nothing (and needs no stream); a random one is drawn
    in one block from the stage's named stream.
    """
    if n == 0:
        return np.empty(0)
    if dist.is_fixed:
        return np.full(n, dist.mean)
    return np.asarray(dist.sample(streams[name], n), dtype=np.float64)


class LabInbox:
    """Where vehicles hand one lab its bags (``deliver``), during the SimPy run."""

    def __init__(self, labs: Labs, index: int) -> None:
        self.labs = labs
        self.index = index

    def deliver(self, bags: list[Bag], scheduled: float) -> None:
        self.labs.deliver(self.index, bags, scheduled)


class Labs(Mapping[str, LabInbox]):
    """The labs of one replication, by id: they record deliveries while SimPy runs and
    compute everything else in :meth:`finish`, after it."""

    def __init__(
        self,
        env: simpy.Environment,
        labs: Sequence[Lab],
        start: float,
        ledger: Ledger,
        streams: Streams,
    ) -> None:
        self.env = env
        self.labs = tuple(labs)
        self.start = start
        self.ledger = ledger
        self.streams = streams
        self.inboxes = {lab.id: LabInbox(self, k) for k, lab in enumerate(self.labs)}
        self.first_bag = len(ledger.bags)
        # one entry per delivery: its lab, its bags, when, when SimPy scheduled it
        self._call_lab: list[int] = []
        self._call_bags: list[tuple[Bag, ...]] = []
        self._call_time: list[float] = []
        self._call_scheduled: list[float] = []

    def __getitem__(self, key: str) -> LabInbox:
        return self.inboxes[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.inboxes)

    def __len__(self) -> int:
        return len(self.inboxes)

    def deliver(self, lab: int, bags: list[Bag], scheduled: float) -> None:
        """Record a delivery of ``bags`` to lab number ``lab`` now.

        ``scheduled`` is when the event that brings them (the vehicle's last leg) was
        scheduled: among lab events due at the same instant, SimPy takes those
        scheduled earlier first. Only what arrived, when, and that instant: the bag rows
        (ids in delivery order) are written by :meth:`finish`, with their receipts.
        """
        env = self.env
        self._call_lab.append(lab)
        self._call_bags.append(tuple(bags))
        self._call_time.append(float(env.now))
        self._call_scheduled.append(float(scheduled))

    def finish(self, horizon: float) -> None:
        """Run every lab on its deliveries up to ``horizon`` and fill the ledger."""
        ledger = self.ledger
        n_labs = len(self.labs)
        per_call = np.array([len(bags) for bags in self._call_bags], dtype=np.int64)
        bags = np.fromiter(
            chain.from_iterable(chain.from_iterable(self._call_bags)),
            dtype=np.int64,
            count=3 * int(per_call.sum()),
        ).reshape(-1, 3)
        bag_lo, bag_hi, bag_point = bags[:, 0].copy(), bags[:, 1].copy(), bags[:, 2]
        bag_lab = np.repeat(np.array(self._call_lab, dtype=np.int64), per_call)
        delivered = np.repeat(np.array(self._call_time, dtype=np.float64), per_call)
        if len(ledger.bags) != self.first_bag:
            raise RuntimeError("bags were added to the ledger other than by Labs.finish")
        per_plate = np.array([lab.pcr.samples_per_plate for lab in self.labs], dtype=np.int64)
        bags_of = np.bincount(bag_lab, minlength=n_labs)
        tubes_of = np.bincount(bag_lab, weights=bag_hi - bag_lo, minlength=n_labs).astype(np.int64)
        # every plate is full or takes all that waits (emptying the pool a receipt refills)
        plates_of = tubes_of // per_plate + bags_of
        bag_off = np.concatenate([[0], np.cumsum(bags_of)]).astype(np.int64)
        plate_off = np.concatenate([[0], np.cumsum(plates_of)]).astype(np.int64)
        draws = np.zeros((5, max(int(bag_off[-1]), int(plate_off[-1]), 1)))
        for k, lab in enumerate(self.labs):
            dists = (
                lab.receiving.per_bag,
                lab.loading.per_plate,
                lab.extraction.run,
                lab.pcr.run,
                lab.report.per_plate,
            )
            for s, dist in enumerate(dists):
                off = bag_off if s == RECEIVING else plate_off
                lo, hi = int(off[k]), int(off[k + 1])
                draws[s, lo:hi] = stage_durations(
                    dist, self.streams, f"{lab.id}/{STAGES[s]}", hi - lo
                )
        servers = np.array(
            [
                (lab.receiving.staff, lab.loading.staff, lab.extraction.instruments,
                 lab.pcr.instruments, lab.report.staff)
                for lab in self.labs
            ],
            dtype=np.int64,
        ).reshape(n_labs, 5)  # fmt: skip
        first_plate = len(ledger.plates)
        bag_start, bag_end, bag_staff, pf, pi, range_lo, range_hi = run_labs(
            float(horizon),
            np.array([0.0 if lab.opens is None else lab.opens - self.start for lab in self.labs]),
            np.array([lab.partial_plate_after for lab in self.labs], dtype=np.float64),
            servers,
            np.array([lab.extraction.plates_per_run for lab in self.labs], dtype=np.int64),
            per_plate,
            bag_lab,
            bag_lo,
            bag_hi,
            np.array(self._call_time, dtype=np.float64),
            np.array(self._call_scheduled, dtype=np.float64),
            np.cumsum(per_call),
            np.argsort(bag_lab, kind="stable").astype(np.int64),
            bag_off,
            plate_off,
            draws,
            self.first_bag,
            first_plate,
            ledger.tube_lab,
            ledger.tube_bag,
            ledger.tube_received,
            ledger.tube_plate,
        )
        first = self.first_bag
        ledger.bags.extend(
            zip(
                range(first, first + bag_lab.size),
                bag_lab.tolist(), bag_point.tolist(), bag_lo.tolist(), bag_hi.tolist(),
                delivered.tolist(), bag_start.tolist(), bag_end.tolist(), bag_staff.tolist(),
                strict=True,
            )
        )  # fmt: skip
        ledger.plates.extend(_plates(first_plate, pf, pi, range_lo, range_hi))


def _plates(
    first: int, pf: np.ndarray, pi: np.ndarray, range_lo: np.ndarray, range_hi: np.ndarray
) -> list[Plate]:
    """Plate records from the kernel's plate tables (built column-wise: 10,000 plates at 10 M)."""
    ranges = list(zip(range_lo.tolist(), range_hi.tolist(), strict=True))
    ends = pi[:, PI_RANGES_END].tolist()
    per_plate = [ranges[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    f, i = pf.T.tolist(), pi.T.tolist()
    return list(
        map(
            Plate,
            range(first, first + len(ends)),
            i[PI_LAB], per_plate, i[PI_TUBES], f[PF_FORMED], f[PF_LOADED], i[PI_LOADER],
            i[PI_EXTRACTION], f[PF_EXTRACTION_START], f[PF_EXTRACTION_END],
            i[PI_PCR], f[PF_PCR_START], f[PF_PCR_END], f[PF_REPORT_START], f[PF_REPORTED],
        )
    )  # fmt: skip
