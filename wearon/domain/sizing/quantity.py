"""A measured value with its one-standard-deviation uncertainty."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    value: float
    sd: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and math.isfinite(self.sd)) or self.sd < 0:
            raise ValueError(f"not a valid estimate: {self.value} ± {self.sd}")

    def scaled(self, factor: float) -> Estimate:
        return Estimate(self.value * factor, self.sd * abs(factor))


def combine_relative(*relative_sds: float) -> float:
    """Independent relative errors add in quadrature."""
    return math.sqrt(sum(r * r for r in relative_sds))
