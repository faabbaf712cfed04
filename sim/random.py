"""Named random streams: one generator per random quantity, seeded from (seed, replication, name).

Why named and not sequential: a stream's numbers must not depend on which other
streams exist or in which order they were asked for. Adding a lab, a vehicle or
a station to a scenario then leaves every resident's arrival and service draws
untouched (common random numbers), so comparing two scenarios compares the
scenarios, not the noise. The name is hashed with BLAKE2 (stable across
processes and machines, unlike Python's ``hash``) into the seed sequence.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_words(name: str) -> list[int]:
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def stream(seed: int, replication: int, name: str) -> np.random.Generator:
    """The generator for quantity ``name`` in replication ``replication`` of ``seed``."""
    if seed < 0 or replication < 0:
        raise ValueError("seed and replication must be non-negative")
    sequence = np.random.SeedSequence([seed, replication, *_name_words(name)])
    return np.random.Generator(np.random.PCG64(sequence))


class Streams:
    """The named streams of one replication.

    ``streams["service/P-017"]`` always returns a fresh generator positioned at
    the start of that stream, so a model component asks once and keeps it.
    """

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = int(seed)
        self.replication = int(replication)

    def __getitem__(self, name: str) -> np.random.Generator:
        return stream(self.seed, self.replication, name)

    def __repr__(self) -> str:
        return f"Streams(seed={self.seed}, replication={self.replication})"
