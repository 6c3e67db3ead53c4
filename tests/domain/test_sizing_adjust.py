"""Clothing noticed and weight applied: what they do to the girths, the size and the confidence."""

from __future__ import annotations

import math

import pytest

from tests.domain.test_sizing_measure import Figure, draw
from wearon.domain.sizing import (
    DEFAULT_CHART,
    BodyMeasurement,
    Caveat,
    Estimate,
    Measurements,
    Population,
    measure_body,
    recommend,
)
from wearon.domain.sizing.adjust import adjust
from wearon.domain.sizing.bodymass import expected_girths

HEIGHT = 175.0


def body(chest: float, waist: float, hip: float, sd: float = 6.0) -> Measurements:
    def e(value: float) -> Estimate:
        return Estimate(value, sd)

    return Measurements(HEIGHT, e(42), e(chest / 3), e(waist / 3), e(hip / 3), e(chest), e(waist), e(hip))


def typical() -> Measurements:
    """Girths of an average surveyed man of this height."""
    expected = expected_girths(Population.MEN, HEIGHT, None)
    return body(expected["chest"].value, expected["waist"].value, expected["hip"].value)


def test_a_fitted_body_is_left_as_measured() -> None:
    adjusted = adjust(typical(), Population.MEN, None)
    assert adjusted.caveats == ()
    assert adjusted.measurements == typical()
    assert adjusted.confidence_factor == 1.0


def test_a_coat_is_noticed_widens_the_girths_and_lowers_the_confidence() -> None:
    # Given girths a coat makes 30% larger than a surveyed body of this height has,
    m = typical()
    coat = body(m.chest.value * 1.3, m.waist.value * 1.3, m.hip.value * 1.3)
    adjusted = adjust(coat, Population.MEN, None)
    # then the warning is given, each girth carries its excess as uncertainty, confidence drops.
    assert adjusted.caveats == (Caveat.LOOSE_CLOTHING,)
    assert adjusted.measurements.waist.value == coat.waist.value
    excess = coat.waist.value - m.waist.value
    assert adjusted.measurements.waist.sd == pytest.approx(math.hypot(6.0, excess))
    assert adjusted.confidence_factor == pytest.approx(1 / 1.3)


def test_a_coat_spreads_the_size_probabilities() -> None:
    m = typical()
    coat = BodyMeasurement(body(m.chest.value * 1.3, m.waist.value * 1.3, m.hip.value * 1.3), 1.0, 1.0)
    plain_chart_probability = DEFAULT_CHART.probabilities(
        coat.measurements.chest, coat.measurements.waist, coat.measurements.hip
    )
    r = recommend(coat)
    assert Caveat.LOOSE_CLOTHING in r.caveats
    assert r.probability < max(plain_chart_probability.values())
    assert r.confidence < r.probability


def test_a_weight_narrows_each_girth_between_the_photo_and_the_survey() -> None:
    m = typical()
    adjusted = adjust(m, Population.MEN, 72.0).measurements
    predicted = expected_girths(Population.MEN, HEIGHT, 72.0)
    for girth in ("chest", "waist", "hip"):
        photo, survey, both = getattr(m, girth), predicted[girth], getattr(adjusted, girth)
        assert both.sd < min(photo.sd, survey.sd)
        assert min(photo.value, survey.value) <= both.value <= max(photo.value, survey.value)
    # Men: height and weight leave a residual of 3.0% of the chest (8.0% from height alone).
    assert predicted["chest"].sd / predicted["chest"].value == pytest.approx(0.0297)


def test_a_weight_raises_the_confidence_of_a_body_inside_a_band() -> None:
    # Given a body measured loosely in the middle of M (chest 98, waist 86, hip 98),
    loose = BodyMeasurement(body(98, 86, 98, sd=7.0), 1.0, 1.0)
    # and a weight that agrees with it,
    weight = next(
        w for w in range(50, 120) if expected_girths(Population.MEN, HEIGHT, w)["chest"].value >= 98
    )
    without, with_weight = recommend(loose), recommend(loose, weight_kg=weight)
    assert with_weight.size == "M"
    assert with_weight.confidence > without.confidence
    assert with_weight.measurements.chest.sd < without.measurements.chest.sd


def test_a_heavy_body_whose_weight_is_given_is_not_taken_for_a_coat() -> None:
    # Given girths 25% above a typical man of this height, and a weight that explains them,
    m = typical()
    heavy = body(m.chest.value * 1.25, m.waist.value * 1.25, m.hip.value * 1.25)
    weight = next(
        w
        for w in range(60, 200)
        if expected_girths(Population.MEN, HEIGHT, w)["waist"].value >= heavy.waist.value
    )
    # then with the weight it is a body, without it a coat cannot be ruled out.
    assert adjust(heavy, Population.MEN, weight).caveats == ()
    assert adjust(heavy, Population.MEN, None).caveats == (Caveat.LOOSE_CLOTHING,)


@pytest.mark.parametrize("weight", [30.0, 300.0])
def test_a_weight_outside_the_survey_is_not_used_and_says_so(weight: float) -> None:
    adjusted = adjust(typical(), Population.MEN, weight)
    assert adjusted.caveats == (Caveat.WEIGHT_NOT_USED,)
    assert adjusted.measurements == typical()


def test_a_drawn_figure_in_a_coat_gets_the_warning_and_a_fitted_one_does_not() -> None:
    # Given a drawn figure, and the same figure with a silhouette 10-12 cm wider at every level,
    fitted = measure_body(draw(Figure()), HEIGHT)
    coat = measure_body(draw(Figure(chest=44, waist=43, hips=46)), HEIGHT)
    # then only the wide one is warned about, and its answer is less sure than its girths alone say.
    assert recommend(fitted).caveats == ()
    r = recommend(coat)
    assert r.caveats == (Caveat.LOOSE_CLOTHING,)
    m = coat.measurements
    unadjusted = max(DEFAULT_CHART.probabilities(m.chest, m.waist, m.hip).values())
    assert r.probability < unadjusted
    assert r.confidence < 0.85 * unadjusted * coat.visibility * coat.frontalness
