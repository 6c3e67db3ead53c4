from __future__ import annotations

import math

import pytest

from wearon.domain.sizing import (
    BUILT_IN_CHARTS,
    DEFAULT_CHART,
    MAX_SIZES,
    Estimate,
    Population,
    SizeBand,
    SizeChart,
)
from wearon.errors import InvalidSizeChart


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


def merchant(*bands: SizeBand, name: str = "shop") -> SizeChart:
    return SizeChart(name, bands)


def test_a_merchant_chart_with_a_gap_gives_the_gap_to_the_larger_size() -> None:
    # Given chest bands 86-94 and 96-104, and a chest of 95 cm measured precisely,
    chart = merchant(SizeBand("S", chest=(86, 94)), SizeBand("M", chest=(96, 104)))
    p = chart.probabilities(Estimate(95, 0.3), Estimate(80, 0.3), Estimate(95, 0.3))
    # then S is outgrown: M it is.
    assert p["M"] > 0.99


def test_a_chart_with_fewer_girths_decides_on_those_alone() -> None:
    chart = merchant(
        SizeBand("S", chest=(86, 94), waist=(74, 82)), SizeBand("M", chest=(94, 102), waist=(82, 90))
    )
    assert chart.girths == ("chest", "waist")
    # A hip far beyond every band moves nothing: the chart is not cut for hips.
    p = chart.probabilities(Estimate(90, 1), Estimate(78, 1), Estimate(140, 1))
    assert p["S"] > 0.99


def test_the_women_s_chart_reads_bust_waist_and_hip_on_en_13402_3_bands() -> None:
    women = BUILT_IN_CHARTS["womens_tops"]
    assert women.sizes == ("XS", "S", "M", "L", "XL", "XXL")
    assert women.population is Population.WOMEN
    p = women.probabilities(Estimate(94, 0.5), Estimate(78, 0.5), Estimate(102, 0.5))
    assert p["M"] > 0.99


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ((SizeBand("S", chest=(86, 94)), SizeBand("M", chest=(92, 102))), "chest ranges of S and M overlap"),
        ((SizeBand("M", chest=(94, 102)), SizeBand("S", chest=(86, 94))), "chest ranges of M and S overlap"),
        ((SizeBand("S", chest=(94, 86)), SizeBand("M", chest=(94, 102))), "S: the chest range must run"),
        ((SizeBand("S", chest=(86, 94)), SizeBand("S", chest=(94, 102))), "repeated: S"),
        ((SizeBand(" ", chest=(86, 94)), SizeBand("S", chest=(94, 102))), "every size needs a name"),
        ((SizeBand("S"), SizeBand("M")), "at least one of chest, waist and hip"),
        ((SizeBand("S", chest=(86, 94)),), "2 to 20 sizes; this one has 1"),
        (
            (SizeBand("S", chest=(86, 94), waist=(70, 80)), SizeBand("M", chest=(94, 102))),
            "size M gives chest; every size must give chest, waist",
        ),
    ],
)
def test_a_chart_that_cannot_be_used_is_refused_with_the_reason(
    bands: tuple[SizeBand, ...], message: str
) -> None:
    with pytest.raises(InvalidSizeChart, match=message):
        merchant(*bands)


def test_twenty_sizes_is_the_most() -> None:
    sizes = [SizeBand(str(i), chest=(60 + 4 * i, 64 + 4 * i)) for i in range(MAX_SIZES + 1)]
    assert len(merchant(*sizes[:MAX_SIZES]).sizes) == MAX_SIZES
    with pytest.raises(InvalidSizeChart, match="2 to 20 sizes; this one has 21"):
        merchant(*sizes)
