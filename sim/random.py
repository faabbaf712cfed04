"""Named random streams: one generator per random quantity, seeded from (seed, replication, name).

Why named and not sequential: a stream's numbers must not depend on which other
streams exist or in which order they were asked for. Adding a lab, a vehicle or
a station to a scenario then leaves every resident's arrival and service draws
untouched (common random numbers), so comparing two scenarios compares the
scenarios, not the noise.

How a stream is derived: the 256-bit BLAKE2b digest of ``"<seed>\\0<replication>\\0<name>"``
(stable across processes and machines, unlike Python's ``hash``) is read as four
little-endian 64-bit words and handed to numpy's PCG64 as its seed material,
exactly where numpy would put the output of a ``SeedSequence``: words 0-1 are the
initial state, words 2-3 the stream (increment). BLAKE2b already mixes its
input thoroughly, so numpy's own SeedSequence hashing (about 40 us a stream)
adds nothing; a city uses ~10,000 streams a replication.

Why two ways to get one: ``streams[name]`` builds a fresh generator (a few
microseconds), which transport and labs keep for the whole run. A loop that
draws from thousands of short streams one after the other (collection, one
point at a time) instead repositions one generator with :meth:`Streams.seek`,
which sets the PCG64 state to the same start without building objects. Both
give the same numbers (tests/test_reproducibility.py checks it).
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np
from numpy.random.bit_generator import ISeedSequence

_MASK = (1 << 128) - 1
_WORDS = struct.Struct("<4Q")
# the 128-bit multiplier of numpy's PCG64 (PCG_DEFAULT_MULTIPLIER_128 in pcg64.h)
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645


def _prefix(seed: int, replication: int) -> Any:
    """BLAKE2b having read ``"<seed>\0<replication>\0"``; copies of it hash the names."""
    if seed < 0 or replication < 0:
        raise ValueError("seed and replication must be non-negative")
    # decimal digits never contain NUL, so the encoding is unambiguous
    return hashlib.blake2b(b"%d\0%d\0" % (seed, replication), digest_size=32)


def _digest(prefix: Any, name: str) -> bytes:
    h = prefix.copy()
    h.update(name.encode("utf-8"))
    return h.digest()


class _Digest(ISeedSequence):
    """Seed material for PCG64: the stream's digest as four 64-bit words."""

    __slots__ = ("_words",)

    def __init__(self, digest: bytes) -> None:
        self._words = np.frombuffer(digest, dtype="<u8").astype(np.uint64)

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray:
        if np.dtype(dtype) != np.uint64 or n_words != 4:
            raise ValueError("a stream digest seeds PCG64 only (four 64-bit words)")
        return self._words


def _start_state(digest: bytes) -> dict[str, Any]:
    """The PCG64 state numpy sets up from the digest's words (see pcg64_set_seed):
    inc = (stream << 1) | 1, then state = ((inc + initial) * MULT + inc) mod 2**128."""
    w = _WORDS.unpack(digest)
    initial = (w[0] << 64) | w[1]
    inc = ((((w[2] << 64) | w[3]) << 1) | 1) & _MASK
    state = (((inc + initial) & _MASK) * _PCG_MULT + inc) & _MASK
    return {
        "bit_generator": "PCG64",
        "state": {"state": state, "inc": inc},
        "has_uint32": 0,
        "uinteger": 0,
    }


def stream(seed: int, replication: int, name: str) -> np.random.Generator:
    """The generator for quantity ``name`` in replication ``replication`` of ``seed``."""
    return Streams(seed, replication)[name]


class Streams:
    """The named streams of one replication.

    ``streams["service/P-017"]`` always returns a fresh generator positioned at
    the start of that stream, so a model component asks once and keeps it.
    ``streams.seek(rng, name)`` moves an existing PCG64 generator there instead.
    """

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = int(seed)
        self.replication = int(replication)
        self._prefix = _prefix(self.seed, self.replication)

    def __getitem__(self, name: str) -> np.random.Generator:
        seed_material = _Digest(_digest(self._prefix, name))
        # numpy documents any ISeedSequence as a valid seed; its type stubs name only SeedSequence
        return np.random.Generator(np.random.PCG64(seed_material))  # type: ignore[arg-type]

    def seek(self, rng: np.random.Generator, name: str) -> np.random.Generator:
        """Reposition ``rng`` (a PCG64 generator) at the start of stream ``name``; returns it."""
        rng.bit_generator.state = _start_state(_digest(self._prefix, name))
        return rng

    def __repr__(self) -> str:
        return f"Streams(seed={self.seed}, replication={self.replication})"
