"""From the photo's girths to the girths a size is chosen on: clothing noticed, weight applied.

1. The girths are compared with what ANSUR II bodies of the stated height (and weight, when it
   is given and inside the survey) have; clothing that widens the silhouette is noticed and its
   excess carried as uncertainty (`clothing`).
2. With a weight, each girth is combined with the one height and weight predict (`bodymass`),
   weighted by their inverse variances: the photo's estimate and the survey's residual are
   independent evidence about the same girth, so together they are narrower than either.
"""

from __future__ import annotations

from dataclasses import dataclass

from wearon.domain.sizing.bodymass import Population, combine, expected_girths, within_survey
from wearon.domain.sizing.caveats import Caveat
from wearon.domain.sizing.chart import GIRTHS
from wearon.domain.sizing.clothing import loose_clothing, widen
from wearon.domain.sizing.measure import Measurements


@dataclass(frozen=True)
class Adjusted:
    measurements: Measurements
    caveats: tuple[Caveat, ...] = ()
    #: Multiplies the confidence: below 1 when clothing hides the body.
    confidence_factor: float = 1.0


def adjust(m: Measurements, population: Population, weight_kg: float | None) -> Adjusted:
    caveats: list[Caveat] = []
    if weight_kg is not None and not within_survey(m.height, weight_kg):
        caveats.append(Caveat.WEIGHT_NOT_USED)
        weight_kg = None
    expected = expected_girths(population, m.height, weight_kg)
    loose, factor = loose_clothing(m, expected), 1.0
    if loose is not None:
        m, factor = widen(m, expected), loose.confidence_factor
        caveats.append(Caveat.LOOSE_CLOTHING)
    if weight_kg is not None:
        m = m.with_girths({g: combine(getattr(m, g), expected[g]) for g in GIRTHS})
    return Adjusted(m, tuple(caveats), factor)
