"""Re-encoding decoded images as JPEG, and telling when bytes need no re-encoding at all."""

from __future__ import annotations

import io

from PIL import Image

from wearon.images.decode import decode_image, open_header, orientation
from wearon.images.pixels import REDUCING_GAP, fit, rgb_on_white

#: Decoding at 1/8 scale still reads every scan of a JPEG, so it finds a truncated or corrupt one
#: for a fraction of a full decode's CPU.
_CHECK_SIDE = 8


def to_jpeg(img: Image.Image, max_side: int = 1024, quality: int = 90) -> bytes:
    """JPEG bytes with the longest side at most `max_side` (never upscaled), without metadata."""
    img = rgb_on_white(img)
    target = fit(img.size, max_side)
    if img.size != target:
        img = img.resize(target, Image.Resampling.BICUBIC, reducing_gap=REDUCING_GAP)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def as_stored_jpeg(data: bytes, max_side: int, quality: int = 90) -> bytes:
    """JPEG bytes for an image: `data` itself when it already is a plain JPEG (RGB or grey,
    upright, at most `max_side`) that decodes completely; otherwise re-encoded. ImageRejected
    when it is not a usable image."""
    if _plain_jpeg(data, max_side):
        decode_image(data, max_side=_CHECK_SIDE)
        return data
    return to_jpeg(decode_image(data, max_side=max_side), max_side, quality)


def _plain_jpeg(data: bytes, max_side: int) -> bool:
    img = open_header(data)
    plain = img.format == "JPEG" and img.mode in ("RGB", "L") and max(img.size) <= max_side
    return plain and orientation(img) == 1
