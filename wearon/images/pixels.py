"""Decoded pixels of any mode, as 8-bit RGB on white at the size asked, without full-size copies.

A PNG or a WebP is decoded at full size whatever size we need (only JPEG decodes at a reduced
scale), and converting it whole (RGBA to RGB, palette to RGB, 16 to 8 bits) would add full-size
copies. So such an image is read in strips of rows: each strip is converted, box-reduced and
resampled across, into an image as wide as the target and as tall as the reduced source; one
resample down then gives the target. That is the order Pillow's own two-pass resize takes, with
the same intermediate, so the result is the same as converting and resizing the whole image,
and only one strip is ever converted at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

BICUBIC = Image.Resampling.BICUBIC
Resample = Image.Resampling
Size = tuple[int, int]
#: A box reduction first, leaving at least 3x the target for the bicubic resample: close to
#: Lanczos for a downscale, at ~60% of its CPU cost.
REDUCING_GAP = 3.0
#: Source pixels in one strip: small against the decode budget, large enough that per-strip
#: overheads do not show.
STRIP_PIXELS = 1 << 18
#: Bytes one source pixel of a strip may take while it is converted: the cropped strip (4), a
#: 16-bit strip's arrays (up to 12), RGBA (4), the RGB result (4). Counted by the memory plan.
STRIP_BYTES_PER_PIXEL = 24
#: Modes with more than 8 bits a band. PNG gives I;16 for 16-bit greyscale; the others cannot
#: come from JPEG, PNG or WebP in this Pillow but would get the same treatment.
_WIDE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
#: Modes resampled as they are, with no strips: 8-bit colour and grey without transparency.
_DIRECT_MODES = frozenset({"RGB", "L"})


def fit(size: Size, max_side: int | None) -> Size:
    """`size` shrunk to fit `max_side` on its longest side, the aspect kept; never enlarged."""
    width, height = size
    longest = max(width, height)
    if max_side is None or longest <= max_side:
        return size
    return max(1, round(width * max_side / longest)), max(1, round(height * max_side / longest))


def needs_strips(mode: str, transparent: bool) -> bool:
    return transparent or mode not in _DIRECT_MODES


def to_rgb(img: Image.Image, target: Size, resample: Resample = BICUBIC) -> Image.Image:
    """`img` (loaded, any mode) as RGB of size `target` (at most its own), transparency on white,
    resampled with `resample`."""
    if needs_strips(img.mode, img.has_transparency_data):
        return _by_strips(img, Strips.of(img.size, target), resample)
    if img.size != target:
        img = img.resize(target, resample, reducing_gap=REDUCING_GAP)
    return img if img.mode == "RGB" else img.convert("RGB")


def rgb_on_white(img: Image.Image) -> Image.Image:
    """RGB, with transparent areas white: a garment cut out on transparency must not land on black."""
    if img.mode in _WIDE_MODES:
        img = _eight_bit(img)
    if not img.has_transparency_data:
        return img if img.mode == "RGB" else img.convert("RGB")
    rgba = img if img.mode == "RGBA" else img.convert("RGBA")
    out = Image.new("RGB", img.size, "white")
    out.paste(rgba, mask=rgba)
    return out


def _eight_bit(img: Image.Image) -> Image.Image:
    """Grey of more than 8 bits as 8-bit L, or LA when one grey value is declared transparent.

    Pillow's own conversion clips every value above 255 instead of scaling: a 16-bit photo came
    out solid white.
    """
    values = np.asarray(img).astype(np.float32)
    grey = Image.fromarray(np.clip(np.rint(values / 257), 0, 255).astype(np.uint8))
    key = img.info.get("transparency")
    if not isinstance(key, int):
        return grey
    return Image.merge("LA", (grey, Image.fromarray(np.where(values == key, 0, 255).astype(np.uint8))))


@dataclass(frozen=True)
class Strips:
    """How an image of `size` is read strip by strip into `target`: the box-reduction factors
    (as Pillow's `reducing_gap` picks them), the reduced grid, and the source rows of a strip."""

    size: Size
    target: Size
    factors: Size
    reduced: Size
    rows: int

    @classmethod
    def of(cls, size: Size, target: Size) -> Strips:
        (width, height), (tw, th) = size, target
        fx, fy = int(width / tw / REDUCING_GAP) or 1, int(height / th / REDUCING_GAP) or 1
        reduced = (-(-width // fx), -(-height // fy))
        rows = max(fy, STRIP_PIXELS // width // fy * fy)  # whole reduction blocks
        return cls(size, target, (fx, fy), reduced, rows)

    @property
    def across(self) -> Size:
        """The intermediate: the target's width, the reduced source's height."""
        return self.target[0], self.reduced[1]


def _by_strips(img: Image.Image, strips: Strips, resample: Resample) -> Image.Image:
    (width, height), (fx, fy) = img.size, strips.factors
    across = Image.new("RGB", strips.across)
    for top in range(0, height, strips.rows):
        part = rgb_on_white(img.crop((0, top, width, min(height, top + strips.rows))))
        if (fx, fy) != (1, 1):
            part = part.reduce((fx, fy))
        if part.width != across.width:
            # Across only; the box is the source's own extent, as Pillow's resize takes it.
            part = part.resize((across.width, part.height), resample, box=(0, 0, width / fx, part.height))
        across.paste(part, (0, top // fy))
    if across.size == strips.target:
        return across
    return across.resize(strips.target, resample, box=(0, 0, across.width, height / fy))
