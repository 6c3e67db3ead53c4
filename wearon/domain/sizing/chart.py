"""A size chart held as data, and the probability of each size given uncertain measurements.

A top fits when every girth it is cut for (chest, waist, hip) is inside its band, so the size a
body needs is the largest of the sizes its girths fall in. Each girth is normal (value, sd).
Their errors are treated as moving together, because most of each error is shared: one height
scale, one turn correction, one mask. Then, with z_g(s) = (upper_g(s) - value_g) / sd_g,

    P(needed size <= s) = Phi(min over girths g of z_g(s))
    P(needed size == s) = P(needed size <= s) - P(needed size <= s - 1)

(Treating them as independent instead would multiply three chances of "just over the edge" and
push every body near the top of a band into the next size.) The first band is open below and
the last open above, so the probabilities sum to one. A gap between two bands (a merchant's chart
may leave one) belongs to the size above it: a body there has outgrown the smaller size.

A chart may be cut for fewer girths (a merchant's tops chart often gives chest and waist only);
then only those decide. Charts are validated when built (`InvalidSizeChart`): every size gives
the same girths, each range runs low to high, sizes go from small to large without overlapping,
and there are 2 to MAX_SIZES of them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from wearon.domain.sizing.bodymass import Population
from wearon.domain.sizing.quantity import Estimate
from wearon.errors import InvalidSizeChart

Range = tuple[float, float]
GIRTHS = ("chest", "waist", "hip")
#: A merchant's chart longer than this is a mistake (or an attack on the probability loop).
MAX_SIZES = 20


@dataclass(frozen=True)
class SizeBand:
    """Body girths in cm, [lower, upper), that a size is cut for; None where the chart is silent."""

    size: str
    chest: Range | None = None
    waist: Range | None = None
    hip: Range | None = None

    def girths(self) -> tuple[str, ...]:
        return tuple(g for g in GIRTHS if getattr(self, g) is not None)

    def range(self, girth: str) -> Range:
        found: Range | None = getattr(self, girth)
        if found is None:
            raise KeyError(girth)
        return found


@dataclass(frozen=True)
class SizeChart:
    name: str
    bands: tuple[SizeBand, ...]
    population: Population = Population.UNISEX

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(b.size for b in self.bands)

    @property
    def girths(self) -> tuple[str, ...]:
        return self.bands[0].girths()

    def probabilities(self, chest: Estimate, waist: Estimate, hip: Estimate) -> dict[str, float]:
        """Probability that each size is the one the body needs (sums to one)."""
        body = {"chest": chest, "waist": waist, "hip": hip}
        out, previous = {}, 0.0
        for index, band in enumerate(self.bands):
            cumulative = self._fits_within(index, body)
            out[band.size] = max(0.0, cumulative - previous)
            previous = cumulative
        return out

    def _fits_within(self, index: int, body: dict[str, Estimate]) -> float:
        """P(needed size <= bands[index])."""
        band = self.bands[index]
        if index == len(self.bands) - 1:
            return 1.0
        z = min((band.range(g)[1] - body[g].value) / max(body[g].sd, 1e-9) for g in self.girths)
        return 0.5 * math.erfc(-z / math.sqrt(2))


def _validate(chart: SizeChart) -> None:
    if not 2 <= len(chart.bands) <= MAX_SIZES:
        raise InvalidSizeChart(f"a size chart has 2 to {MAX_SIZES} sizes; this one has {len(chart.bands)}")
    _validate_names(chart.sizes)
    girths = chart.bands[0].girths()
    if not girths:
        raise InvalidSizeChart("each size needs at least one of chest, waist and hip")
    for band in chart.bands:
        if band.girths() != girths:
            raise InvalidSizeChart(
                f"size {band.size} gives {_list(band.girths())}; every size must give {_list(girths)}"
            )
        for girth in girths:
            low, high = band.range(girth)
            if not low < high:
                raise InvalidSizeChart(f"size {band.size}: the {girth} range must run from low to high")
    for below, above in itertools.pairwise(chart.bands):
        for girth in girths:
            if above.range(girth)[0] < below.range(girth)[1]:
                raise InvalidSizeChart(
                    f"the {girth} ranges of {below.size} and {above.size} overlap or are out of order: "
                    "list sizes from small to large, each starting where the one before ends or above"
                )


def _validate_names(sizes: tuple[str, ...]) -> None:
    if any(not size.strip() for size in sizes):
        raise InvalidSizeChart("every size needs a name")
    repeated = sorted({size for size in sizes if sizes.count(size) > 1})
    if repeated:
        raise InvalidSizeChart(f"size names must differ; repeated: {', '.join(repeated)}")


def _list(girths: tuple[str, ...]) -> str:
    return ", ".join(girths) or "no girth"


_OPEN = math.inf

# Men's/unisex tops. Chest and waist: the EN 13402-3:2013 letter codes for men (chest girth
# 78-86 XS ... 118-129 XXL; waist girth 66-74 XS ... 106-117 XXL). EN 13402-3 gives no hip girth
# for men's letter codes; assumption: the hip bands repeat the chest bands, as unisex charts do
# (ANSUR II men average hip 102.0 cm against chest 105.9 cm, so the hip rarely decides a man's
# size, while a wider hip still moves a top up). The outer edges are open (see the module doc).
MENS_TOPS = SizeChart(
    name="men's/unisex tops (EN 13402-3 letter codes)",
    population=Population.MEN,
    bands=(
        SizeBand("XS", chest=(-_OPEN, 86), waist=(-_OPEN, 74), hip=(-_OPEN, 86)),
        SizeBand("S", chest=(86, 94), waist=(74, 82), hip=(86, 94)),
        SizeBand("M", chest=(94, 102), waist=(82, 90), hip=(94, 102)),
        SizeBand("L", chest=(102, 110), waist=(90, 98), hip=(102, 110)),
        SizeBand("XL", chest=(110, 118), waist=(98, 106), hip=(110, 118)),
        SizeBand("XXL", chest=(118, _OPEN), waist=(106, _OPEN), hip=(118, _OPEN)),
    ),
)

# Women's tops: the EN 13402-3:2013 letter codes for women, bust, waist and hip girth (bust XS
# 74-82, S 82-90, M 90-98, L 98-107, XL 107-119, XXL 119-131; waist 58-66 ... 103-115; hip
# 82-90 ... 125-135). Read from secondary summaries of the standard (the letter-code table of
# the "EN 13402" encyclopaedia article and converter pages that print it); the standard's own text
# was not available to check. One summary prints L as 98-106 and XL from 107; the 1 cm gap would
# fall to XL here anyway (see the module doc). The outer edges are open.
WOMENS_TOPS = SizeChart(
    name="women's tops (EN 13402-3 letter codes)",
    population=Population.WOMEN,
    bands=(
        SizeBand("XS", chest=(-_OPEN, 82), waist=(-_OPEN, 66), hip=(-_OPEN, 90)),
        SizeBand("S", chest=(82, 90), waist=(66, 74), hip=(90, 98)),
        SizeBand("M", chest=(90, 98), waist=(74, 82), hip=(98, 106)),
        SizeBand("L", chest=(98, 107), waist=(82, 91), hip=(106, 115)),
        SizeBand("XL", chest=(107, 119), waist=(91, 103), hip=(115, 125)),
        SizeBand("XXL", chest=(119, _OPEN), waist=(103, _OPEN), hip=(125, _OPEN)),
    ),
)

DEFAULT_CHART = MENS_TOPS
#: The charts a request may name instead of giving its own.
BUILT_IN_CHARTS = {"mens_tops": MENS_TOPS, "womens_tops": WOMENS_TOPS}
