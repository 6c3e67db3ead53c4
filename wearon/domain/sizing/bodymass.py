"""What height, and height with weight, say about chest, waist and hip girths (ANSUR II).

The relations are log-linear least-squares fits on the ANSUR II public data files (Gordon C.C. et
al. 2014, Natick/TR-15/007; 4,082 men, 1,986 women), refitted by `scripts/fit_ansur_relations.py`:

    ln girth = a + b_height * ln(height_cm) [+ b_weight * ln(weight_kg)]

with the residual standard deviation `sd` in ln units (a relative error). Height alone leaves
the population's own spread; weight narrows it to about a third (men: chest 8.0% -> 3.0%,
waist 11.6% -> 4.7%, hip 7.1% -> 2.5% of the girth; women: 8.4 -> 4.4, 11.2 -> 5.5,
6.8 -> 2.8). "unisex" is the fit over both files together.

Beyond the body mass indices the survey holds (15.4-43.5), a fit is an extrapolation, and the
weight is not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from wearon.domain.sizing.quantity import Estimate

#: The lowest and highest body mass index in the ANSUR II public files (both sexes).
SURVEYED_BMI = (15.4, 43.5)


class Population(StrEnum):
    """Whom a size chart is cut for, which picks the relations that apply."""

    MEN = "men"
    WOMEN = "women"
    UNISEX = "unisex"


@dataclass(frozen=True)
class LogLinear:
    a: float
    b_height: float
    b_weight: float
    sd: float

    def predict(self, height_cm: float, weight_kg: float | None) -> Estimate:
        ln = self.a + self.b_height * math.log(height_cm)
        if weight_kg is not None:
            ln += self.b_weight * math.log(weight_kg)
        value = math.exp(ln)
        return Estimate(value, value * self.sd)


Relations = dict[str, LogLinear]

# Girth given height only (b_weight unused).
_BY_HEIGHT: dict[Population, Relations] = {
    Population.MEN: {
        "chest": LogLinear(1.9487, 0.5245, 0.0, 0.0799),
        "waist": LogLinear(1.2757, 0.6311, 0.0, 0.1160),
        "hip": LogLinear(1.2337, 0.6556, 0.0, 0.0705),
    },
    Population.WOMEN: {
        "chest": LogLinear(1.6099, 0.5768, 0.0, 0.0835),
        "waist": LogLinear(0.9922, 0.6788, 0.0, 0.1117),
        "hip": LogLinear(0.9742, 0.7167, 0.0, 0.0684),
    },
    Population.UNISEX: {
        "chest": LogLinear(-0.3443, 0.9657, 0.0, 0.0848),
        "waist": LogLinear(-0.0227, 0.8810, 0.0, 0.1154),
        "hip": LogLinear(2.7660, 0.3609, 0.0, 0.0722),
    },
}

# Girth given height and weight.
_BY_HEIGHT_AND_WEIGHT: dict[Population, Relations] = {
    Population.MEN: {
        "chest": LogLinear(4.9450, -0.4917, 0.5084, 0.0297),
        "waist": LogLinear(5.5644, -0.8234, 0.7277, 0.0467),
        "hip": LogLinear(3.8970, -0.2476, 0.4519, 0.0250),
    },
    Population.WOMEN: {
        "chest": LogLinear(5.2519, -0.5704, 0.5233, 0.0444),
        "waist": LogLinear(5.9941, -0.8967, 0.7186, 0.0551),
        "hip": LogLinear(4.1877, -0.2955, 0.4617, 0.0280),
    },
    Population.UNISEX: {
        "chest": LogLinear(4.1795, -0.3604, 0.5267, 0.0369),
        "waist": LogLinear(6.1417, -0.9260, 0.7177, 0.0499),
        "hip": LogLinear(6.3413, -0.6871, 0.4163, 0.0397),
    },
}


def expected_girths(population: Population, height_cm: float, weight_kg: float | None) -> dict[str, Estimate]:
    """Chest, waist and hip girths of surveyed bodies of this height (and weight), with their spread."""
    table = _BY_HEIGHT if weight_kg is None else _BY_HEIGHT_AND_WEIGHT
    return {name: fit.predict(height_cm, weight_kg) for name, fit in table[population].items()}


def within_survey(height_cm: float, weight_kg: float) -> bool:
    low, high = SURVEYED_BMI
    return low <= weight_kg / (height_cm / 100) ** 2 <= high


def combine(measured: Estimate, expected: Estimate) -> Estimate:
    """Two independent estimates of one girth, weighted by their inverse variances."""
    w_measured, w_expected = 1 / max(measured.sd, 1e-9) ** 2, 1 / max(expected.sd, 1e-9) ** 2
    value = (measured.value * w_measured + expected.value * w_expected) / (w_measured + w_expected)
    return Estimate(value, math.sqrt(1 / (w_measured + w_expected)))
