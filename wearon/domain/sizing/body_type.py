"""Body type from shoulder, waist and hip proportions; the rule, in order (first match wins):

1. oval              the waist girth is at least the chest and the hip girth (the middle is widest);
2. hourglass         chest and hip girths within 9.1 cm of each other, and the waist at least
                     22.9 cm below the chest or 25.4 cm below the hip;
3. inverted_triangle shoulder breadth / hip breadth at least 10% above the average proportion;
4. triangle          shoulder breadth / hip breadth at least 10% below the average proportion;
5. rectangle         otherwise.

Sources: rule 2 is FFIT's hourglass test (Simmons K., Istook C.L. & Devarajan P. (2004), "Female
Figure Identification Technique (FFIT) for Apparel", J. Textile and Apparel Technology and
Management 4(1)): 3.6 in, 9 in and 10 in. Rules 3-4 compare with the ANSUR II male mean
biacromial/hip breadth ratio, 1.20 (see `anthropometry`); the 10% margin is an assumption, about
the spread of that ratio between individuals (the female mean, 1.03, falls below it).
"""

from __future__ import annotations

from enum import StrEnum

from wearon.domain.sizing.anthropometry import SHOULDER_TO_HIP_BREADTH
from wearon.domain.sizing.measure import Measurements

INCH_CM = 2.54
HOURGLASS_CHEST_HIP_CM = 3.6 * INCH_CM
HOURGLASS_CHEST_WAIST_CM = 9 * INCH_CM
HOURGLASS_HIP_WAIST_CM = 10 * INCH_CM
SHOULDER_HIP_MARGIN = 0.10


class BodyType(StrEnum):
    OVAL = "oval"
    HOURGLASS = "hourglass"
    INVERTED_TRIANGLE = "inverted_triangle"
    TRIANGLE = "triangle"
    RECTANGLE = "rectangle"


def classify_body_type(m: Measurements) -> BodyType:
    chest, waist, hip = m.chest.value, m.waist.value, m.hip.value
    if waist >= chest and waist >= hip:
        return BodyType.OVAL
    if _is_hourglass(chest, waist, hip):
        return BodyType.HOURGLASS
    shoulder_to_hip = m.shoulder_width.value / m.hip_width.value
    if shoulder_to_hip >= SHOULDER_TO_HIP_BREADTH * (1 + SHOULDER_HIP_MARGIN):
        return BodyType.INVERTED_TRIANGLE
    if shoulder_to_hip <= SHOULDER_TO_HIP_BREADTH * (1 - SHOULDER_HIP_MARGIN):
        return BodyType.TRIANGLE
    return BodyType.RECTANGLE


def _is_hourglass(chest: float, waist: float, hip: float) -> bool:
    balanced = abs(chest - hip) <= HOURGLASS_CHEST_HIP_CM
    return balanced and (chest - waist >= HOURGLASS_CHEST_WAIST_CM or hip - waist >= HOURGLASS_HIP_WAIST_CM)
