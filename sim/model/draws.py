"""Durations drawn one at a time from a stream, cheaply.

A SimPy stage asks for one duration per service; calling numpy for a single
draw costs microseconds, so draws come from a block filled ahead. numpy's
Generator fills a block element by element from the same bit stream, so the
k-th duration is the same whatever the block size. A fixed duration never
touches the stream.
"""

from __future__ import annotations

import numpy as np

from ..distributions import DurationDist

BLOCK = 256


class DurationSource:
    """Successive draws of one distribution from one named stream."""

    def __init__(self, dist: DurationDist, rng: np.random.Generator) -> None:
        self.dist = dist
        self.rng = rng
        self.fixed: float | None = dist.mean if dist.is_fixed else None
        self._block = np.empty(0)
        self._next = 0

    def __call__(self) -> float:
        if self.fixed is not None:
            return self.fixed
        if self._next == self._block.size:
            self._block = self.dist.sample(self.rng, BLOCK)
            self._next = 0
        value = self._block[self._next]
        self._next += 1
        return float(value)
