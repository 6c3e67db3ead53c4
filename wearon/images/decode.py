"""Decoding untrusted image bytes within a memory budget.

Only the JPEG, PNG and WebP parsers ever see the bytes. The size the header declares, and what
decoding it would cost in memory (`wearon.images.budget`), are checked before a single pixel is
decoded, and before Pillow's WebP decoder, which allocates its canvas when the file is opened,
exists. Pillow's own decompression-bomb guard stays as a second line. A JPEG is decoded at a
reduced scale when a smaller image is wanted; a PNG or WebP cannot be, so its limit in pixels
is lower, by what its full-size decode costs.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import ExifTags, Image, UnidentifiedImageError

from wearon.errors import ImageRejected
from wearon.images import budget, headers
from wearon.images.pixels import BICUBIC, Resample, Size, to_rgb

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
#: Far above any phone photo (a 200 MP sensor is 16k x 12k), far below what exhausts memory.
MAX_PIXELS = 40_000_000
#: What Pillow raises for truncated or corrupt data, depending on the format and where it breaks.
_CORRUPT = (OSError, ValueError, SyntaxError, EOFError, struct.error)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_JPEG_FORMATS = ("JPEG", "MPO")  # MPO: a camera's multi-picture JPEG; its first picture is the photo
#: EXIF orientation -> what makes the image upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def decode_image(
    data: bytes,
    *,
    max_side: int | None = None,
    min_side: int | None = None,
    max_pixels: int = MAX_PIXELS,
    resample: Resample = BICUBIC,
) -> Image.Image:
    """An RGB, upright image at most `max_side` on its longest side (never enlarged, resampled
    with `resample` when shrunk), or ImageRejected (never any other error).

    A JPEG decodes at 1/2, 1/4 or 1/8 scale when that still gives `max_side`, or, when the caller
    accepts less, at least `min_side`: then it is taken as it is, with no resample.

    Memory stays within `budget.DECODE_BUDGET` per image, and a process decodes at most
    `budget.MAX_CONCURRENT_DECODES` images at once, on its decode threads (the header too:
    Pillow's WebP decoder allocates on open).
    """
    return budget.in_decode_slot(lambda: _decode(data, max_side, min_side or max_side, max_pixels, resample))


def _decode(
    data: bytes, max_side: int | None, min_side: int | None, max_pixels: int, resample: Resample
) -> Image.Image:
    img = open_header(data, max_pixels=max_pixels, max_side=max_side)
    full = img.size  # libjpeg's coefficient buffer, when there is one, stays at this size
    _draft(img, min_side)
    plan = budget.plan(_facts(img, data, full), max_side)
    with _refusals("image data is truncated or corrupt"):
        img.load()
        out = to_rgb(img, plan.target, resample)
    upright = _UPRIGHT.get(orientation(img))
    return out if upright is None else out.transpose(upright)


def open_header(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> Image.Image:
    """The image with only its header read, refused if it declares too many pixels, or is a
    WebP too costly to decode to `max_side` (its decoder allocates when the file is opened)."""
    webp = headers.webp_canvas(data)
    if webp is not None:
        _check_pixels(webp[0], max_pixels)
        budget.plan(_webp_facts(*webp), max_side)
    try:
        with _refusals("image header is truncated or corrupt"):
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise _unidentified(data) from None
    _check_pixels(img.size, max_pixels)
    return img


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1: upright as stored), from EXIF or XMP."""
    with _refusals("image metadata is corrupt"):
        value = img.getexif().get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) else 1


def _draft(img: Image.Image, min_side: int | None) -> None:
    """Let a JPEG decode at the smallest 1/2, 1/4 or 1/8 scale whose long side is still
    `min_side` or more. A no-op for the other formats."""
    if min_side is None or img.format not in _JPEG_FORMATS:
        return
    width, height = img.size
    scale = next((s for s in (8, 4, 2) if max(width, height) / s >= min_side), 1)
    if scale > 1:
        img.draft("RGB", (max(1, width // scale), max(1, height // scale)))


def _facts(img: Image.Image, data: bytes, full: Size) -> budget.Facts:
    if img.format == "WEBP":
        return _webp_facts(img.size, img.mode == "RGBA")
    if img.format == "PNG":
        inflated = budget.png_inflated_bytes(headers.png_inflated_chunks(data))
        return budget.Facts("PNG", img.mode, img.size, img.has_transparency_data, inflated)
    coefficients = _jpeg_coefficient_bytes(img, data, full)
    return budget.Facts("JPEG", img.mode, img.size, False, coefficients)


def _webp_facts(size: Size, alpha: bool) -> budget.Facts:
    return budget.Facts("WebP", "RGBA" if alpha else "RGB", size, alpha, budget.webp_decoder_bytes(size))


def _jpeg_coefficient_bytes(img: Image.Image, data: bytes, full: Size) -> int:
    """libjpeg keeps the whole image's coefficients for a progressive JPEG, or a multi-scan one
    (its first scan lacks a component); none for a single-scan baseline JPEG."""
    layers = getattr(img, "layer", [])
    first_scan = headers.jpeg_first_scan_components(data)
    multi_scan = first_scan is not None and first_scan < len(layers)
    if not (img.info.get("progressive") or multi_scan):
        return 0
    sampling = [(max(1, h), max(1, v)) for _, h, v, _ in layers] or [(1, 1)]
    return budget.jpeg_coefficient_bytes(full, sampling)


def _check_pixels(size: Size, max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageRejected("image_too_large", f"image is {width}x{height} pixels; the limit is {max_pixels}")


@contextmanager
def _refusals(corrupt: str) -> Iterator[None]:
    """Pillow's errors for what the bytes hold, as ImageRejected."""
    try:
        yield
    except _BOMB:
        # Pillow refuses when the header promises a bomb (or warns, and the warning is an error
        # under this process's warning filters).
        raise ImageRejected("image_too_large", "image decompresses to too many pixels") from None
    except UnidentifiedImageError:
        raise
    except _CORRUPT:
        raise ImageRejected("corrupt_image", corrupt) from None


def _unidentified(data: bytes) -> ImageRejected:
    other = headers.other_format(data)
    if other is None:
        return ImageRejected("not_an_image", "the data is not an image")
    return ImageRejected("unsupported_format", f"{other} images are not accepted (JPEG, PNG or WebP)")
