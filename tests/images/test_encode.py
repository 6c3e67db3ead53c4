"""Re-encoding as JPEG, and keeping a provider's plain JPEG as it came."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.helpers.images import encoded
from wearon.errors import ImageRejected
from wearon.images import as_stored_jpeg, decode_image, to_jpeg

RED, WHITE = (220, 20, 20), (255, 255, 255)


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    return encoded(Image.new("RGB", (40, 20), RED), "JPEG", exif=exif.tobytes())


# --- to_jpeg ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [((3000, 2000), (1024, 683)), ((2000, 3000), (683, 1024)), ((1024, 10), (1024, 10))],
)
def test_large_images_are_resized_to_1024_on_the_long_side(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    out = opened(to_jpeg(Image.new("RGB", size, RED)))
    assert (out.format, out.size) == ("JPEG", expected)


def test_small_images_are_not_upscaled() -> None:
    assert opened(to_jpeg(Image.new("RGB", (300, 200)), max_side=4096)).size == (300, 200)


def test_the_longest_side_can_be_chosen() -> None:
    assert opened(to_jpeg(Image.new("RGB", (900, 300)), max_side=300)).size == (300, 100)


def test_transparent_input_is_encoded_on_white() -> None:
    assert opened(to_jpeg(Image.new("RGBA", (10, 10), (0, 0, 0, 0)))).getpixel((5, 5)) == WHITE


def test_metadata_such_as_location_is_not_passed_on() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make, standing in for GPS and the rest
    data = encoded(Image.new("RGB", (50, 50), RED), "JPEG", exif=exif.tobytes())
    assert opened(data).getexif()  # the photo carries it...
    assert not opened(to_jpeg(decode_image(data))).getexif()  # ...the bytes we send on do not


# --- as_stored_jpeg: the provider's result ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_plain_jpeg_is_stored_as_it_came(mode: str) -> None:
    data = encoded(Image.new(mode, (1024, 1536), 90), "JPEG", quality=90)
    assert as_stored_jpeg(data, 4096) is data


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (encoded(Image.new("RGB", (64, 96), RED), "PNG"), (64, 96)),  # the API's default format
        (encoded(Image.new("RGBA", (64, 96), (0, 0, 0, 0)), "WEBP"), (64, 96)),
        (encoded(Image.new("CMYK", (64, 96)), "JPEG"), (64, 96)),
        (encoded(Image.new("RGB", (4800, 1200), RED), "JPEG"), (4096, 1024)),  # larger than we store
        (rotated_jpeg(), (20, 40)),  # stored upright, not with a tag every viewer must honour
    ],
)
def test_anything_else_is_re_encoded_as_a_plain_jpeg(data: bytes, size: tuple[int, int]) -> None:
    out = opened(as_stored_jpeg(data, 4096))
    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", size)
    assert not out.getexif()


def test_a_truncated_jpeg_is_refused_not_stored() -> None:
    noisy = Image.effect_noise((512, 512), 80).convert("RGB")
    data = encoded(noisy, "JPEG")
    with pytest.raises(ImageRejected) as caught:
        as_stored_jpeg(data[: len(data) * 2 // 3], 4096)
    assert caught.value.code == "corrupt_image"


def test_what_is_not_an_image_is_refused() -> None:
    with pytest.raises(ImageRejected):
        as_stored_jpeg(b"<html>502 Bad Gateway</html>", 4096)
