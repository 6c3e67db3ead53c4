"""A size chart held as data, and the probability of each size given uncertain measurements.

A top fits when every girth it is cut for (chest, waist, hip) is inside its band, so the size a
body needs is the largest of the sizes its girths fall in. Each girth is normal (value, sd).
Their errors are treated as moving together, because most of each error is shared: one height
scale, one turn correction, one mask. Then, with z_g(s) = (upper_g(s) - value_g) / sd_g,

    P(needed size <= s) = Phi(min over girths g of z_g(s))
    P(needed size == s) = P(needed size <= s) - P(needed size <= s - 1)

(Treating them as independent instead would multiply three chances of "just over the edge" and
push every body near the top of a band into the next size.) The first band is open below and
the last open above, so the probabilities sum to one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from wearon.domain.sizing.quantity import Estimate

Range = tuple[float, float]


@dataclass(frozen=True)
class SizeBand:
    """Body girths in cm, [lower, upper), that a size is cut for."""

    size: str
    chest: Range
    waist: Range
    hip: Range


@dataclass(frozen=True)
class SizeChart:
    name: str
    bands: tuple[SizeBand, ...]

    def __post_init__(self) -> None:
        for below, above in itertools.pairwise(self.bands):
            for field in ("chest", "waist", "hip"):
                if getattr(below, field)[1] != getattr(above, field)[0]:
                    raise ValueError(f"{self.name}: {field} bands of {below.size} and {above.size} must meet")

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(b.size for b in self.bands)

    def probabilities(self, chest: Estimate, waist: Estimate, hip: Estimate) -> dict[str, float]:
        """Probability that each size is the one the body needs (sums to one)."""
        out, previous = {}, 0.0
        for index, band in enumerate(self.bands):
            cumulative = self._fits_within(index, chest, waist, hip)
            out[band.size] = max(0.0, cumulative - previous)
            previous = cumulative
        return out

    def _fits_within(self, index: int, chest: Estimate, waist: Estimate, hip: Estimate) -> float:
        """P(needed size <= bands[index])."""
        band = self.bands[index]
        if index == len(self.bands) - 1:
            return 1.0
        pairs = ((band.chest, chest), (band.waist, waist), (band.hip, hip))
        z = min((upper - girth.value) / max(girth.sd, 1e-9) for (_, upper), girth in pairs)
        return 0.5 * math.erfc(-z / math.sqrt(2))


# Men's/unisex tops. Chest and waist: the EN 13402-3:2013 letter codes for men (chest girth
# 78-86 XS ... 118-129 XXL; waist girth 66-74 XS ... 106-117 XXL). EN 13402-3 gives no hip girth
# for men's letter codes; assumption: the hip bands repeat the chest bands, as unisex charts do
# (ANSUR II men average hip 102.0 cm against chest 105.9 cm, so the hip rarely decides a man's
# size, while a wider hip still moves a top up). The outer edges are open (see the module doc).
_OPEN = math.inf
DEFAULT_CHART = SizeChart(
    name="men's/unisex tops (EN 13402-3 letter codes)",
    bands=(
        SizeBand("XS", chest=(-_OPEN, 86), waist=(-_OPEN, 74), hip=(-_OPEN, 86)),
        SizeBand("S", chest=(86, 94), waist=(74, 82), hip=(86, 94)),
        SizeBand("M", chest=(94, 102), waist=(82, 90), hip=(94, 102)),
        SizeBand("L", chest=(102, 110), waist=(90, 98), hip=(102, 110)),
        SizeBand("XL", chest=(110, 118), waist=(98, 106), hip=(110, 118)),
        SizeBand("XXL", chest=(118, _OPEN), waist=(106, _OPEN), hip=(118, _OPEN)),
    ),
)
