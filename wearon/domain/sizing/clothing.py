"""Noticing clothing that widens the silhouette (coats, dresses, wide trousers).

A silhouette method cannot see through a coat, but it can notice one: the girths it reads from
the silhouette's widths (through the ANSUR II depth ratios, at the levels the skeleton places)
come out far beyond what bodies of the stated height, and weight when given, have in ANSUR II
(`bodymass`). Far beyond means a z-score over LOOSE_Z at any of chest, waist and hip, counting
both the survey's spread and the photo's own uncertainty.

Without a weight this cannot tell a coat from a genuinely heavy body past the survey's 98th
percentile for the height; with one, the survey's spread is a third as wide and it can.

What is done about it (`widen`): the part of each girth beyond the expected one may be cloth, so
it is added to that girth's uncertainty (one SD), which spreads the size probabilities; and the
confidence is scaled by expected/measured at the worst level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wearon.domain.sizing.chart import GIRTHS
from wearon.domain.sizing.measure import Measurements
from wearon.domain.sizing.quantity import Estimate, combine_relative

#: Assumption: about the 98th percentile (one-sided) of fitted bodies; a coat over a slim body is
#: well beyond it, and a false alarm only costs a softly worded warning and some confidence.
LOOSE_Z = 2.0


@dataclass(frozen=True)
class LooseFit:
    """The girths too wide for a body, each as measured/expected."""

    ratios: dict[str, float]

    @property
    def confidence_factor(self) -> float:
        return 1 / max(self.ratios.values())


def loose_clothing(m: Measurements, expected: dict[str, Estimate]) -> LooseFit | None:
    ratios = {g: _ratio(m, expected, g) for g in GIRTHS if _z(getattr(m, g), expected[g]) > LOOSE_Z}
    return LooseFit(ratios) if ratios else None


def widen(m: Measurements, expected: dict[str, Estimate]) -> Measurements:
    """Each girth beyond its expected value carries the excess as one more SD."""

    def widened(girth: str) -> Estimate:
        measured = getattr(m, girth)
        excess = max(0.0, measured.value - expected[girth].value)
        return Estimate(measured.value, math.hypot(measured.sd, excess))

    return m.with_girths({g: widened(g) for g in GIRTHS})


def _z(measured: Estimate, expected: Estimate) -> float:
    spread = combine_relative(measured.sd / measured.value, expected.sd / expected.value)
    return math.log(measured.value / expected.value) / spread


def _ratio(m: Measurements, expected: dict[str, Estimate], girth: str) -> float:
    return float(getattr(m, girth).value / expected[girth].value)
