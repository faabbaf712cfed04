"""The event loop a round runs in: SimPy's clock and event queue, every event registered.

Vehicles, labs and the availability calendars are state machines driven by
SimPy events: a component asks :meth:`Engine.at` for a callback after a
delay, SimPy orders it with every other event (by time, then by the order
events were scheduled) and calls it. Components are written as callbacks
rather than generator processes because a generator's position cannot be
saved: here every pending event is a (time, component, method, arguments)
entry the engine can list (:meth:`Engine.pending`), so the whole round can be
stopped at a clock time, written down, and carried on from it
(:mod:`sim.model.state`).

The order of simultaneous events is SimPy's: events due at the same instant
happen in the order they were scheduled. Calendar changes (a lab opening, an
outage, a vehicle out of service) are all scheduled when the round is built,
so at any instant they take effect before anything else happening then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

import simpy


class Pending(NamedTuple):
    """A scheduled callback that has not happened yet."""

    due: float
    seq: int  # the order it was scheduled in (among this engine's events)
    owner: str  # the key of the component whose method it calls
    method: str
    args: tuple[Any, ...]


class Engine:
    """SimPy's clock and queue, with each scheduled callback kept until it happens."""

    def __init__(self, now: float = 0.0) -> None:
        self.env = simpy.Environment(initial_time=now)
        self._pending: dict[int, tuple[float, Callable[..., None], tuple[Any, ...]]] = {}
        #: events scheduled so far (SimPy's own counter is private)
        self.scheduled = 0
        self._callback = self._fire  # one bound method for every event

    @property
    def now(self) -> float:
        return float(self.env.now)

    def at(self, delay: float, handler: Callable[..., None], *args: Any) -> int:
        """Call ``handler(*args)`` ``delay`` seconds from now; returns the event's number."""
        seq = self.scheduled
        self.scheduled = seq + 1
        env = self.env
        self._pending[seq] = (env.now + delay, handler, args)
        env.timeout(delay, seq).callbacks.append(self._callback)
        return seq

    def cancel(self, seq: int) -> None:
        """Forget a scheduled callback (its SimPy event still fires, and does nothing)."""
        self._pending.pop(seq, None)

    def entry(self, seq: int) -> tuple[float, Callable[..., None], tuple[Any, ...]]:
        """A pending callback: when it is due, what it calls and with what."""
        return self._pending[seq]

    def _fire(self, event: simpy.Event) -> None:
        entry = self._pending.pop(cast(int, event.value), None)
        if entry is not None:
            entry[1](*entry[2])

    def run(self, until: float) -> None:
        """Process every event due before ``until`` (events due at ``until`` stay pending)."""
        if until > self.env.now:
            self.env.run(until=until)

    def pending(self) -> list[Pending]:
        """The callbacks still to come, in the order SimPy will take them.

        Every handler is a method of a component with a ``key`` attribute, so the
        list can be written down and the events scheduled again (in this order)
        on the rebuilt components.
        """
        out = []
        for seq, (due, handler, args) in self._pending.items():
            owner = getattr(handler, "__self__", None)
            key = getattr(owner, "key", None)
            if key is None:
                raise TypeError(f"event {seq} calls {handler!r}, which is not a component method")
            out.append(Pending(due, seq, str(key), handler.__name__, args))
        out.sort(key=lambda p: (p.due, p.seq))
        return out
