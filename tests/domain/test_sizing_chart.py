from __future__ import annotations

import math

import pytest

from wearon.domain.sizing import DEFAULT_CHART, Estimate, SizeBand, SizeChart


def probabilities(chest: float, waist: float, hip: float, sd: float = 2.0) -> dict[str, float]:
    return DEFAULT_CHART.probabilities(Estimate(chest, sd), Estimate(waist, sd), Estimate(hip, sd))


def test_the_chart_runs_xs_to_xxl() -> None:
    assert DEFAULT_CHART.sizes == ("XS", "S", "M", "L", "XL", "XXL")


def test_probabilities_sum_to_one() -> None:
    for chest in (70, 90, 98, 105, 140):
        assert sum(probabilities(chest, chest - 12, chest).values()) == pytest.approx(1.0)


def test_a_body_in_the_middle_of_a_band_gets_that_size_almost_surely() -> None:
    p = probabilities(98, 86, 98, sd=0.5)
    assert p["M"] > 0.999


def test_on_a_band_edge_the_two_sizes_share_the_probability() -> None:
    p = probabilities(102, 86, 98)
    assert p["M"] == pytest.approx(0.5, abs=0.01)
    assert p["L"] == pytest.approx(0.5, abs=0.01)


def test_a_body_near_the_top_of_a_band_is_not_pushed_up_by_having_three_girths() -> None:
    # Every girth 1.5 sd inside L: L is the answer, not a size up.
    p = probabilities(107, 95, 107)
    assert max(p, key=p.__getitem__) == "L"
    assert p["L"] > 0.85


def test_wider_uncertainty_spreads_the_probability() -> None:
    assert probabilities(98, 86, 98, sd=6)["M"] < probabilities(98, 86, 98, sd=1)["M"]


def test_a_larger_chest_never_gets_a_smaller_size() -> None:
    chosen = [_best(probabilities(c, 70, 80)) for c in range(76, 130, 2)]
    indices = [DEFAULT_CHART.sizes.index(s) for s in chosen]
    assert indices == sorted(indices)
    assert chosen[0] == "XS" and chosen[-1] == "XXL"


def test_the_largest_girth_decides_a_waist_well_beyond_the_chest_moves_the_size() -> None:
    assert _best(probabilities(98, 86, 98, sd=1)) == "M"
    assert _best(probabilities(98, 96, 98, sd=1)) == "L"
    assert _best(probabilities(128, 84, 96, sd=1)) == "XXL"


def _best(p: dict[str, float]) -> str:
    return max(p, key=p.__getitem__)


def test_far_outside_the_chart_still_gives_a_finite_answer() -> None:
    p = probabilities(300, 300, 300, sd=0.1)
    assert all(math.isfinite(v) for v in p.values())
    assert p["XXL"] == pytest.approx(1.0)


def test_bands_that_do_not_meet_are_refused() -> None:
    with pytest.raises(ValueError, match="must meet"):
        SizeChart(
            "gappy",
            (
                SizeBand("S", chest=(-math.inf, 90), waist=(-math.inf, 80), hip=(-math.inf, 90)),
                SizeBand("M", chest=(92, math.inf), waist=(80, math.inf), hip=(90, math.inf)),
            ),
        )
