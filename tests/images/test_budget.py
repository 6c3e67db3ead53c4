"""The memory a decode is planned to take, counted the way Pillow and libjpeg allocate."""

from __future__ import annotations

import pytest

from wearon.errors import ImageRejected
from wearon.images import budget
from wearon.images.budget import MB, Facts


@pytest.mark.parametrize(
    ("mode", "bytes_per_pixel"),
    [("1", 1), ("L", 1), ("P", 1), ("I;16", 2), ("LA", 4), ("RGB", 4), ("RGBA", 4)],
)
def test_an_image_takes_what_pillow_stores_per_pixel(mode: str, bytes_per_pixel: int) -> None:
    assert budget.image_bytes(mode, (1000, 10)) == 10_000 * bytes_per_pixel


@pytest.mark.parametrize(
    ("sampling", "bytes_per_pixel"),
    [
        ([(2, 2), (1, 1), (1, 1)], 3),  # 4:2:0: a full-size Y and two quarter-size chroma planes
        ([(1, 1), (1, 1), (1, 1)], 6),  # 4:4:4
        ([(1, 1)], 2),  # grey
        ([(1, 1)] * 4, 8),  # CMYK
    ],
)
def test_a_jpegs_coefficient_buffer_is_2_bytes_a_sample(
    sampling: list[tuple[int, int]], bytes_per_pixel: int
) -> None:
    assert budget.jpeg_coefficient_bytes((1600, 1200), sampling) == 1600 * 1200 * bytes_per_pixel


def test_a_jpegs_coefficient_buffer_is_counted_in_whole_mcus() -> None:
    # 17 x 17 pixels at 4:2:0: the luma plane needs 3 x 3 blocks, kept as 4 x 4 (whole 2 x 2 MCUs);
    # each chroma plane 2 x 2 blocks; 128 bytes a block
    assert budget.jpeg_coefficient_bytes((17, 17), [(2, 2), (1, 1), (1, 1)]) == (16 + 4 + 4) * 128


def test_a_plan_shrinks_to_the_side_asked_for_and_counts_every_copy() -> None:
    plan = budget.plan(Facts("PNG", "RGBA", (4000, 3000), True, 0), 1000)
    assert plan.target == (1000, 750)
    decoded = 4000 * 3000 * 4
    assert decoded < plan.cost <= budget.DECODE_BUDGET  # the decode, and more: strips, intermediate, result


def test_a_plan_over_budget_is_a_refusal_that_says_why() -> None:
    with pytest.raises(ImageRejected) as caught:
        budget.plan(Facts("WebP", "RGBA", (3000, 2000), True, budget.webp_decoder_bytes((3000, 2000))), 1024)
    assert caught.value.code == "image_too_large"
    assert str(caught.value).startswith("this WebP image needs")


def test_compressed_png_text_is_counted_up_to_what_pillow_keeps() -> None:
    assert budget.png_inflated_bytes(3) == 3 * MB
    assert budget.png_inflated_bytes(10_000) == budget.PNG_INFLATED_MAX_BYTES
