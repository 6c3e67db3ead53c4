"""Every mode Pillow decodes JPEG, PNG or WebP to comes out as 8-bit RGB whose values are the
picture's, and the strip-by-strip shrink gives what one whole-image resize gives."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from tests.helpers.images import encoded
from wearon.images import decode_image
from wearon.images.pixels import BICUBIC, REDUCING_GAP, Strips, rgb_on_white, to_rgb

WHITE = (255, 255, 255)
#: 16-bit grey levels across the range, and the 8-bit value each must come out as (v / 257).
LEVELS = [0, 257, 5_000, 30_000, 40_000, 65_535]
EIGHT_BIT = [round(v / 257) for v in LEVELS]


def png(width: int, height: int, depth: int, colour_type: int, rows: list[bytes], *extra: bytes) -> bytes:
    """A PNG written by hand, for the bit depths Pillow cannot write (16-bit colour, grey+alpha)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\0" + row for row in rows))
    body = chunk(b"IHDR", ihdr) + b"".join(extra) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def trns(value: int) -> bytes:
    data = struct.pack(">H", value)
    return struct.pack(">I", 2) + b"tRNS" + data + struct.pack(">I", zlib.crc32(b"tRNS" + data))


def grey16(levels: list[int]) -> bytes:
    """One row of 16-bit grey samples, big-endian as PNG stores them."""
    return np.array(levels, dtype=">u2").tobytes()


def reds(img: Image.Image) -> list[int]:
    return [int(img.getpixel((x, 0))[0]) for x in range(img.width)]  # type: ignore[index]


# --- 16-bit and other wide modes ---------------------------------------------------------------------


def test_a_16_bit_grey_png_keeps_its_grey_levels() -> None:
    # Given a 16-bit greyscale PNG (Pillow opens it as I;16): its levels, 0 to 65535
    data = png(len(LEVELS), 1, 16, 0, [grey16(LEVELS)])
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    # Then each comes out as its 8-bit value on all three channels, not clipped to white
    img = decode_image(data)
    assert [img.getpixel((x, 0)) for x in range(img.width)] == [(v, v, v) for v in EIGHT_BIT]


def test_a_16_bit_grey_pngs_transparent_level_becomes_white() -> None:
    data = png(2, 1, 16, 0, [grey16([30_000, 40_000])], trns(30_000))
    img = decode_image(data)
    assert [img.getpixel((0, 0)), img.getpixel((1, 0))] == [WHITE, (156, 156, 156)]


@pytest.mark.parametrize(
    ("colour_type", "samples", "expected"),
    [
        (2, [65_535, 32_896, 0], (255, 128, 0)),  # 16-bit RGB
        (6, [65_535, 0, 0, 65_535], (255, 0, 0)),  # 16-bit RGBA, opaque
        (6, [65_535, 0, 0, 0], WHITE),  # 16-bit RGBA, transparent
        (4, [40_000, 65_535], (156, 156, 156)),  # 16-bit grey + alpha, opaque
    ],
)
def test_16_bit_colour_and_alpha_pngs_keep_their_values(
    colour_type: int, samples: list[int], expected: tuple[int, int, int]
) -> None:
    data = png(1, 1, 16, colour_type, [np.array(samples, dtype=">u2").tobytes()])
    assert decode_image(data).getpixel((0, 0)) == expected


@pytest.mark.parametrize(
    ("mode", "dtype"),
    [("I;16", "<u2"), ("I;16B", ">u2"), ("I;16L", "<u2"), ("I", "<i4"), ("F", "<f4")],
)
def test_every_wide_grey_mode_is_scaled_not_clipped(mode: str, dtype: str) -> None:
    # Modes no JPEG, PNG or WebP gives in this Pillow but one might: the same 16-bit scale
    img = Image.frombytes(mode, (len(LEVELS), 1), np.array(LEVELS, dtype=dtype).tobytes())
    assert reds(rgb_on_white(img)) == EIGHT_BIT


@pytest.mark.parametrize(
    ("img", "options", "expected"),
    [
        (Image.new("LA", (1, 1), (90, 255)), {}, (90, 90, 90)),
        (Image.new("LA", (1, 1), (90, 0)), {}, WHITE),
        (Image.new("L", (1, 1), 7), {"transparency": 7}, WHITE),
        (Image.new("RGB", (1, 1), (1, 2, 3)), {"transparency": (1, 2, 3)}, WHITE),
        (Image.new("1", (1, 1), 1), {}, WHITE),
        (Image.new("1", (1, 1), 0), {}, (0, 0, 0)),
    ],
)
def test_png_grey_alpha_and_keyed_transparency_keep_their_values(
    img: Image.Image, options: dict[str, object], expected: tuple[int, int, int]
) -> None:
    assert decode_image(encoded(img, "PNG", **options)).getpixel((0, 0)) == expected


def test_a_low_bit_depth_grey_png_keeps_its_levels() -> None:
    # 2 bits a pixel: the four levels 3, 2, 1, 0 are white, light, dark and black
    data = png(4, 1, 2, 0, [bytes([0b11_10_01_00])])
    assert reds(decode_image(data)) == [255, 170, 85, 0]


@pytest.mark.parametrize("progressive", [False, True])
def test_a_cmyk_jpeg_keeps_its_colours(progressive: bool) -> None:
    cmyk = Image.new("CMYK", (32, 16), (0, 255, 255, 0))  # red
    cmyk.paste((255, 255, 0, 0), (16, 0, 32, 16))  # blue
    img = decode_image(encoded(cmyk, "JPEG", quality=95, progressive=progressive))
    red, blue = np.asarray(img.getpixel((4, 8))), np.asarray(img.getpixel((28, 8)))
    assert np.abs(red - (255, 0, 0)).max() <= 8
    assert np.abs(blue - (0, 0, 255)).max() <= 8


# --- shrinking strip by strip --------------------------------------------------------------------------


def picture(size: tuple[int, int], mode: str) -> Image.Image:
    """Smooth but varied content (noise blown up), so a seam or a shift would show."""
    noise = np.random.default_rng(7).integers(0, 256, (9, 12, 4), dtype=np.uint8)
    return Image.fromarray(noise, "RGBA").resize(size, Image.Resampling.BILINEAR).convert(mode)


def as_array(img: Image.Image) -> npt.NDArray[np.int16]:
    return np.asarray(img, dtype=np.int16)


@pytest.mark.parametrize(
    ("size", "target"),
    [
        ((3000, 2000), (1024, 683)),  # no box reduction, many strips
        ((7301, 5473), (1024, 768)),  # box-reduced by 2, a partial last block
        ((900, 5000), (184, 1024)),  # tall
        ((5000, 7), (1024, 1)),  # a strip of a few rows only
        ((640, 480), (640, 480)),  # converted, not resized
    ],
)
def test_strips_give_what_one_whole_image_resize_gives(
    size: tuple[int, int], target: tuple[int, int]
) -> None:
    img = picture(size, "RGBA")
    assert Strips.of(size, target).rows < size[1] or size[1] < 10  # it really is read in strips
    whole = rgb_on_white(img).resize(target, BICUBIC, reducing_gap=REDUCING_GAP)
    assert np.abs(as_array(to_rgb(img, target)) - as_array(whole)).max() <= 1


def test_a_palette_image_is_shrunk_from_its_colours_not_its_nearest_pixels() -> None:
    # Pillow resizes a palette image with the nearest pixel only; fine stripes of red and blue
    # must come out as their average, purple
    stripes = Image.new("P", (400, 400), 0)
    stripes.putpalette([220, 20, 20, 20, 20, 220])
    for x in range(1, 400, 2):
        stripes.paste(1, (x, 0, x + 1, 400))
    r, g, b = decode_image(encoded(stripes, "PNG"), max_side=40).getpixel((20, 20))  # type: ignore[misc]
    assert abs(r - b) < 12 and 100 < r < 140 and g < 30
