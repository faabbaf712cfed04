"""Random numbers drawn one at a time from a stream, cheaply.

A SimPy stage asks for one duration per service and a vehicle for one noise
factor per leg; calling numpy for a single draw costs microseconds, so draws
come from a block filled ahead. numpy's Generator fills a block element by
element from the same bit stream, so the k-th draw is the same whatever the
block size. A fixed duration never touches the stream.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..distributions import DurationDist

BLOCK = 256
Sampler = Callable[[np.random.Generator, int], np.ndarray]


class Buffered:
    """Successive draws of ``sample(rng, n)`` from one named stream, or a fixed value."""

    def __init__(
        self, sample: Sampler, rng: np.random.Generator | None, fixed: float | None = None
    ) -> None:
        self.sample = sample
        self.rng = rng
        self.fixed = fixed
        self._block = np.empty(0)
        self._next = 0
        self._blocks = 0  # blocks drawn so far

    def __call__(self) -> float:
        if self.fixed is not None:
            return self.fixed
        if self._next == self._block.size:
            assert self.rng is not None
            self._block = self.sample(self.rng, BLOCK)
            self._blocks += 1
            self._next = 0
        value = self._block[self._next]
        self._next += 1
        return float(value)

    @property
    def taken(self) -> int:
        """How many draws have been used (0 for a fixed value)."""
        if self.fixed is not None or not self._blocks:
            return 0
        return (self._blocks - 1) * BLOCK + self._next

    def skip(self, n: int) -> None:
        """Use up ``n`` draws, as if they had been taken one by one (to carry on a stream)."""
        for _ in range(n):
            self()


def durations(dist: DurationDist, rng: np.random.Generator) -> Buffered:
    """Draws of a declared duration distribution."""
    return Buffered(dist.sample, rng, dist.mean if dist.is_fixed else None)


def noise_factors(cv: float, rng: np.random.Generator) -> Buffered:
    """Mean-one gamma factors with coefficient of variation ``cv`` (1.0 when cv is 0)."""
    if cv <= 0:
        return Buffered(lambda r, n: np.ones(n), None, 1.0)
    shape = 1.0 / cv**2
    return Buffered(lambda r, n: r.gamma(shape, 1.0 / shape, n), rng)
