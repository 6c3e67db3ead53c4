from __future__ import annotations

import pytest

from wearon.domain.sizing import BodyMeasurement, Estimate, Measurements, recommend


def measured(
    chest: float, sd: float, *, visibility: float = 1.0, frontalness: float = 1.0
) -> BodyMeasurement:
    def e(value: float) -> Estimate:
        return Estimate(value, sd)

    m = Measurements(
        height=175,
        shoulder_width=e(42),
        chest_width=e(chest / 3),
        waist_width=e(30),
        hip_width=e(35),
        chest=e(chest),
        waist=e(chest - 12),
        hip=e(chest),
    )
    return BodyMeasurement(m, visibility=visibility, frontalness=frontalness)


def test_the_most_probable_size_is_recommended() -> None:
    r = recommend(measured(98, 1.0))
    assert r.size == "M"
    assert r.probability == pytest.approx(r.probabilities["M"])
    assert r.runner_up is None


def test_a_close_second_is_offered_as_runner_up() -> None:
    r = recommend(measured(101.5, 2.0))
    assert {r.size, r.runner_up.size if r.runner_up else None} == {"M", "L"}
    assert r.runner_up is not None and r.runner_up.probability >= 0.5 * r.probability


def test_confidence_is_probability_times_visibility_times_frontalness() -> None:
    r = recommend(measured(98, 2.0, visibility=0.9, frontalness=0.8))
    assert r.confidence == pytest.approx(r.probability * 0.9 * 0.8)


def test_confidence_falls_near_a_band_edge() -> None:
    middle, edge = recommend(measured(98, 2.0)), recommend(measured(101.8, 2.0))
    assert edge.confidence < middle.confidence
