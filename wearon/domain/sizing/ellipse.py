"""Girth from a frontal breadth: the cross-section as an ellipse of known depth/breadth ratio."""

from __future__ import annotations

import math

from wearon.domain.sizing.quantity import Estimate, combine_relative


def ramanujan_perimeter(a: float, b: float) -> float:
    """Perimeter of an ellipse with semi-axes `a` and `b`, by Ramanujan's second approximation.

    Relative error is below 1e-9 while the shorter axis is at least half the longer (every body
    section here) and 4e-4 in the degenerate limit of a flat line.
    """
    if a < 0 or b < 0:
        raise ValueError("semi-axes must be non-negative")
    if a + b == 0:
        return 0.0
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def girth(breadth: float, depth_ratio: float) -> float:
    """Circumference of a body section `breadth` wide and `depth_ratio * breadth` deep."""
    return ramanujan_perimeter(breadth / 2, depth_ratio * breadth / 2)


def girth_estimate(breadth: Estimate, depth_ratio: float, ratio_relative_sd: float) -> Estimate:
    """Girth with its uncertainty from the breadth's and from the population spread of the ratio.

    Girth is proportional to breadth for a fixed ratio, so the breadth's relative error carries
    over unchanged; the ratio's effect is taken from the local slope.
    """
    value = girth(breadth.value, depth_ratio)
    if value == 0:
        return Estimate(0.0, breadth.sd)
    step = depth_ratio * 1e-3
    slope = (girth(breadth.value, depth_ratio + step) - girth(breadth.value, depth_ratio - step)) / (2 * step)
    from_ratio = slope * depth_ratio * ratio_relative_sd / value
    return Estimate(value, value * combine_relative(breadth.sd / breadth.value, from_ratio))
