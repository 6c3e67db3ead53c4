from __future__ import annotations

import pytest

from wearon.domain.sizing import BodyType, Estimate, Measurements, classify_body_type


def body(shoulders: float, hip_width: float, chest: float, waist: float, hip: float) -> Measurements:
    def e(value: float) -> Estimate:
        return Estimate(value, 1.0)

    return Measurements(
        height=175,
        shoulder_width=e(shoulders),
        chest_width=e(chest / 3),
        waist_width=e(waist / 3),
        hip_width=e(hip_width),
        chest=e(chest),
        waist=e(waist),
        hip=e(hip),
    )


@pytest.mark.parametrize(
    ("measurements", "expected"),
    [
        # The waist is the widest girth.
        (body(42, 35, 100, 104, 102), BodyType.OVAL),
        # Chest and hip close, waist 25 cm below both: FFIT's hourglass.
        (body(38, 36, 96, 70, 100), BodyType.HOURGLASS),
        # Shoulders 1.35x the hips (the average man is 1.20x).
        (body(47, 34.8, 104, 88, 98), BodyType.INVERTED_TRIANGLE),
        # Shoulders barely wider than the hips.
        (body(37, 36, 92, 80, 104), BodyType.TRIANGLE),
        # Average proportions.
        (body(41.6, 34.6, 104, 92, 100), BodyType.RECTANGLE),
    ],
)
def test_the_written_rule(measurements: Measurements, expected: BodyType) -> None:
    assert classify_body_type(measurements) is expected


def test_the_rule_is_tried_in_order_an_oval_with_broad_shoulders_is_an_oval() -> None:
    assert classify_body_type(body(52, 34, 100, 106, 100)) is BodyType.OVAL


def test_body_types_are_plain_strings_for_the_api() -> None:
    assert BodyType.INVERTED_TRIANGLE.value == "inverted_triangle"
