"""Decoding untrusted images and re-encoding them, with real Pillow on real (and crafted) files."""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from wearon.errors import ImageRejected
from wearon.images import decode_image, to_jpeg

RED, BLUE, WHITE = (220, 20, 20), (20, 20, 220), (255, 255, 255)


def encoded(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def photo(width: int, height: int, fmt: str = "JPEG") -> bytes:
    return encoded(Image.new("RGB", (width, height), RED), fmt)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring width x height, with (almost) no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def refusal(data: bytes, **options: int) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data, **options)
    return caught.value


def pixels_allocated() -> int:
    return int(Image.core.get_stats()["new_count"])


# --- decompression bombs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (20_000, 20_000),  # 400 MP: Pillow's own guard refuses this one at open
        (8_000, 6_000),  # 48 MP: under Pillow's guard, over ours
        (10_000, 10_000),  # 100 MP: Pillow only warns
    ],
)
def test_oversize_images_are_refused_from_the_header_alone(width: int, height: int) -> None:
    data = png_header_only(width, height)
    allocated, started = pixels_allocated(), time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert refusal(data).code == "image_too_large"
    assert pixels_allocated() == allocated  # not one pixel buffer was created
    assert time.monotonic() - started < 0.5


def test_pillows_bomb_warning_is_a_refusal_when_warnings_are_errors() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert refusal(png_header_only(10_000, 10_000)).code == "image_too_large"


def test_the_pixel_cap_can_be_chosen() -> None:
    assert refusal(photo(100, 51), max_pixels=5_000).code == "image_too_large"
    assert decode_image(photo(100, 50), max_pixels=5_000).size == (100, 50)


# --- what is not an image we take ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"<html><body>hi</body></html>" * 10])
def test_non_images_are_refused(data: bytes) -> None:
    assert refusal(data).code == "not_an_image"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (photo(10, 10, "GIF"), "GIF"),
        (photo(10, 10, "BMP"), "BMP"),
        (photo(10, 10, "TIFF"), "TIFF"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64, "HEIC"),  # an iPhone photo's start
    ],
)
def test_other_image_formats_are_refused_by_name(data: bytes, name: str) -> None:
    rejected = refusal(data)
    assert rejected.code == "unsupported_format"
    assert str(rejected).startswith(f"{name} images are not accepted")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_are_refused_as_corrupt(fmt: str) -> None:
    noisy = Image.effect_noise((400, 400), 80).convert("RGB")  # noise: no format can shrink it much
    data = encoded(noisy, fmt)
    assert refusal(data[: len(data) // 2]).code == "corrupt_image"


# --- what comes out -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_supported_formats_decode_to_rgb(fmt: str) -> None:
    img = decode_image(photo(30, 20, fmt))
    assert (img.mode, img.size) == ("RGB", (30, 20))
    assert max(abs(a - b) for a, b in zip(img.getpixel((15, 10)), RED, strict=True)) < 10  # type: ignore[arg-type]


def test_a_multi_picture_jpeg_from_a_camera_is_accepted() -> None:
    first, second = Image.new("RGB", (40, 30), RED), Image.new("RGB", (40, 30), BLUE)
    data = encoded(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"  # what Pillow calls it
    assert decode_image(data).size == (40, 30)


def test_transparency_becomes_white_not_black() -> None:
    cut_out = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    cut_out.paste((*RED, 255), (5, 5, 15, 15))
    img = decode_image(encoded(cut_out, "PNG"))
    assert img.getpixel((0, 0)) == WHITE
    assert img.getpixel((10, 10)) == RED


def test_palette_transparency_becomes_white_too() -> None:
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0, *RED])
    palette.paste(1, (5, 0, 10, 10))
    img = decode_image(encoded(palette, "PNG", transparency=0))
    assert (img.getpixel((0, 0)), img.getpixel((9, 9))) == (WHITE, RED)


def test_exif_orientation_is_applied() -> None:
    # Given a 40x20 picture, red on its left half, stored with "rotate 90° clockwise to display"
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    img = decode_image(encoded(stored, "JPEG", exif=exif.tobytes(), quality=95))
    # Then it comes out 20x40, upright: the left half is now the top half
    assert img.size == (20, 40)
    assert img.getpixel((10, 5))[0] > 180  # type: ignore[index]
    assert img.getpixel((10, 35))[2] > 180  # type: ignore[index]


def test_a_jpeg_can_be_decoded_at_a_reduced_scale_never_below_the_side_asked_for() -> None:
    img = decode_image(photo(4000, 3000), draft_side=1000)
    assert 1000 <= max(img.size) < 4000
    assert img.size == (2000, 1500)  # 1/4 would give 1000 x 750, short of the 1001 px asked


@pytest.mark.parametrize(("size", "fmt"), [((4000, 3000), "PNG"), ((800, 600), "JPEG")])
def test_the_reduced_scale_leaves_other_formats_and_small_images_alone(
    size: tuple[int, int], fmt: str
) -> None:
    assert decode_image(photo(*size, fmt), draft_side=1000).size == size


def fuzzed(seed: bytes, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(seed)
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data)


SEEDS = [photo(48, 32, "JPEG"), photo(48, 32, "PNG"), photo(48, 32, "WEBP")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.integers(1, 2_000),
)
def test_damaged_files_are_decoded_or_refused_never_another_error(
    seed: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    data = fuzzed(seed, edits)[: max(cut, 8)]
    try:
        img = decode_image(data)
    except ImageRejected:
        return
    assert img.mode == "RGB"


# --- re-encoding -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [((3000, 2000), (1024, 683)), ((2000, 3000), (683, 1024)), ((1024, 10), (1024, 10))],
)
def test_large_photos_are_resized_to_1024_on_the_long_side(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    out = Image.open(io.BytesIO(to_jpeg(decode_image(photo(*size)))))
    assert (out.format, out.size) == ("JPEG", expected)


def test_small_photos_are_not_upscaled() -> None:
    out = Image.open(io.BytesIO(to_jpeg(decode_image(photo(300, 200)), max_side=4096)))
    assert out.size == (300, 200)


def test_the_longest_side_can_be_chosen() -> None:
    assert Image.open(io.BytesIO(to_jpeg(Image.new("RGB", (900, 300)), max_side=300))).size == (300, 100)


def test_transparent_input_is_encoded_on_white() -> None:
    out = Image.open(io.BytesIO(to_jpeg(Image.new("RGBA", (10, 10), (0, 0, 0, 0)))))
    assert out.getpixel((5, 5)) == WHITE


def test_metadata_such_as_location_is_not_passed_on() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make, standing in for GPS and the rest
    img = decode_image(encoded(Image.new("RGB", (50, 50), RED), "JPEG", exif=exif.tobytes()))
    assert "exif" in img.info  # the decoded image still carries it...
    assert not Image.open(io.BytesIO(to_jpeg(img))).getexif()  # ...the bytes we send on do not
