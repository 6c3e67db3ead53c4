from __future__ import annotations

import math

import pytest

from wearon.domain.sizing import Estimate
from wearon.domain.sizing.ellipse import girth, girth_estimate, ramanujan_perimeter


def _integrated_perimeter(a: float, b: float, steps: int = 20_000) -> float:
    """The perimeter by brute force: the sum of many short chords."""
    points = [
        (a * math.cos(2 * math.pi * i / steps), b * math.sin(2 * math.pi * i / steps)) for i in range(steps)
    ]
    return sum(math.dist(points[i], points[(i + 1) % steps]) for i in range(steps))


@pytest.mark.parametrize("radius", [0.5, 1.0, 17.3, 60.0])
def test_on_a_circle_it_is_two_pi_r(radius: float) -> None:
    assert ramanujan_perimeter(radius, radius) == pytest.approx(2 * math.pi * radius, rel=1e-12)


@pytest.mark.parametrize("ratio", [0.9, 0.73, 0.5])
def test_it_matches_the_integrated_perimeter_for_body_like_ellipses(ratio: float) -> None:
    assert ramanujan_perimeter(20.0, 20.0 * ratio) == pytest.approx(
        _integrated_perimeter(20.0, 20.0 * ratio), rel=1e-6
    )


def test_a_flat_ellipse_is_a_line_there_and_back() -> None:
    assert ramanujan_perimeter(10.0, 0.0) == pytest.approx(40.0, rel=1e-3)
    assert ramanujan_perimeter(0.0, 0.0) == 0.0


def test_negative_axes_are_refused() -> None:
    with pytest.raises(ValueError):
        ramanujan_perimeter(-1.0, 1.0)


def test_girth_is_the_perimeter_of_breadth_by_ratio_times_breadth() -> None:
    assert girth(30.0, 0.7) == pytest.approx(ramanujan_perimeter(15.0, 10.5))
    assert girth(30.0, 1.0) == pytest.approx(math.pi * 30.0)


def test_girth_uncertainty_carries_the_breadths_relative_error() -> None:
    exact_ratio = girth_estimate(Estimate(30.0, 1.5), 0.7, ratio_relative_sd=0.0)
    assert exact_ratio.sd / exact_ratio.value == pytest.approx(0.05, rel=1e-6)


def test_girth_uncertainty_adds_the_ratio_spread() -> None:
    exact_breadth = girth_estimate(Estimate(30.0, 0.0), 0.7, ratio_relative_sd=0.1)
    # Ten percent more depth adds (girth(30, 0.77) - girth(30, 0.7)) to the girth.
    assert exact_breadth.sd == pytest.approx(girth(30.0, 0.77) - girth(30.0, 0.7), rel=0.02)
