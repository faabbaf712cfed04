"""Random durations declared as data.

A scenario writes ``service: {dist: lognormal, mean: 25s, sd: 10s}`` or simply
``tube_change: 40s`` (a fixed duration). Each declaration validates into one of
the frozen models below, which knows its mean and how to draw a vector of
samples from a generator that the caller owns (one named stream per quantity,
see :mod:`sim.random`). ``fixed_twin()`` gives the deterministic version with
the same mean: hand-computed tests and ``--deterministic`` runs use it.

Negative durations cannot happen: the normal distribution is truncated at zero
by clipping (documented, and visible in the mean only when sd is large relative
to the mean).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    model_validator,
)

from .units import format_duration, parse_duration

Duration = Annotated[
    float,
    BeforeValidator(parse_duration, json_schema_input_type=str),
    PlainSerializer(format_duration, return_type=str),
]
"""Seconds, written in YAML with a unit ("25s", "75min", "2h")."""

PositiveDuration = Annotated[Duration, Field(gt=0)]
NonNegativeDuration = Annotated[Duration, Field(ge=0)]


class _Dist(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws in seconds."""
        raise NotImplementedError

    @property
    def mean(self) -> float:
        """The mean in seconds."""
        raise NotImplementedError

    @property
    def is_fixed(self) -> bool:
        return False

    def fixed_twin(self) -> Fixed:
        """A fixed duration equal to this distribution's mean."""
        return Fixed.model_validate({"dist": "fixed", "value": f"{self.mean!r}s"})


class Fixed(_Dist):
    dist: Literal["fixed"] = "fixed"
    value: NonNegativeDuration

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def is_fixed(self) -> bool:
        return True


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: NonNegativeDuration
    high: NonNegativeDuration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must not be below low")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


class Triangular(_Dist):
    dist: Literal["triangular"]
    low: NonNegativeDuration
    mode: NonNegativeDuration
    high: NonNegativeDuration

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not self.low <= self.mode <= self.high or self.low == self.high:
            raise ValueError("need low <= mode <= high and low < high")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.triangular(self.low, self.mode, self.high, n)

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean_: PositiveDuration = Field(alias="mean")
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean_, n)

    @property
    def mean(self) -> float:
        return self.mean_


class _MeanSd(_Dist):
    mean_: PositiveDuration = Field(alias="mean")
    sd: NonNegativeDuration
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_


class Normal(_MeanSd):
    """Normal, clipped at zero."""

    dist: Literal["normal"]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.maximum(rng.normal(self.mean_, self.sd, n), 0.0)


class Lognormal(_MeanSd):
    """Lognormal given by the mean and sd of the duration itself (not of its log)."""

    dist: Literal["lognormal"]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.sd == 0:
            return np.full(n, self.mean_)
        sigma2 = math.log1p((self.sd / self.mean_) ** 2)
        mu = math.log(self.mean_) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)


class Gamma(_MeanSd):
    """Gamma given by mean and sd (shape = mean²/sd², scale = sd²/mean)."""

    dist: Literal["gamma"]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.sd == 0:
            return np.full(n, self.mean_)
        shape = (self.mean_ / self.sd) ** 2
        return rng.gamma(shape, self.sd**2 / self.mean_, n)


class Empirical(_Dist):
    """Draws from observed values, optionally weighted."""

    dist: Literal["empirical"]
    values: list[NonNegativeDuration] = Field(min_length=1)
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _weights_match(self) -> Empirical:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("weights must have one entry per value")
            if sum(self.weights) <= 0:
                raise ValueError("weights must not all be zero")
        return self

    def _p(self) -> np.ndarray | None:
        if self.weights is None:
            return None
        w = np.asarray(self.weights, dtype=float)
        return w / w.sum()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, dtype=float), size=n, p=self._p())

    @property
    def mean(self) -> float:
        p = self._p()
        values = np.asarray(self.values, dtype=float)
        return float(values.mean() if p is None else values @ p)


def _shorthand(value: Any) -> Any:
    """A bare duration ("40s") means a fixed distribution."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"dist": "fixed", "value": value}
    return value


_Tagged = Annotated[
    Fixed | Uniform | Triangular | Exponential | Normal | Lognormal | Gamma | Empirical,
    Field(discriminator="dist"),
]
DurationDist = Annotated[_Tagged, BeforeValidator(_shorthand, json_schema_input_type=str | _Tagged)]
"""A random duration: a bare duration (fixed) or ``{dist: NAME, ...parameters}``."""


def duration_dist(
    value: Any,
) -> Fixed | Uniform | Triangular | Exponential | Normal | Lognormal | Gamma | Empirical:
    """Validate a declaration such as ``"40s"`` or ``{"dist": "lognormal", "mean": "25s", "sd": "10s"}``."""
    return _ADAPTER.validate_python(value)


_ADAPTER: TypeAdapter[Any] = TypeAdapter(DurationDist)
