"""Decoding untrusted image bytes safely, and re-encoding them for the provider.

Only the JPEG, PNG and WebP parsers ever see the bytes. The size the header declares is checked
before a single pixel is decoded; Pillow's own decompression-bomb guard stays as a second line.
"""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageOps, UnidentifiedImageError

from wearon.errors import ImageRejected

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
#: Far above any phone photo (a 200 MP sensor is 16k x 12k), far below what exhausts memory.
MAX_PIXELS = 40_000_000
#: What Pillow raises for truncated or corrupt data, depending on the format and where it breaks.
_CORRUPT = (OSError, ValueError, SyntaxError, EOFError, struct.error)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)
#: Formats people do upload that we refuse, told apart by their first bytes so the message says so.
_OTHER_SIGNATURES = {b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP", b"II*\0": "TIFF", b"MM\0*": "TIFF"}
_ISO_MEDIA_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF"}


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS, draft_side: int | None = None) -> Image.Image:
    """An RGB, upright, fully decoded image, or ImageRejected (never any other error).

    `draft_side` lets a JPEG decode at a reduced scale (still at least that size), several
    times cheaper when the image is going to be shrunk anyway.
    """
    img = _open(data)
    width, height = img.size
    if width * height > max_pixels:
        raise ImageRejected("image_too_large", f"image is {width}x{height} pixels; the limit is {max_pixels}")
    try:
        if draft_side is not None:
            _draft(img, draft_side)
        img.load()
        upright = ImageOps.exif_transpose(img)
    except _BOMB:
        raise ImageRejected("image_too_large", "image decompresses to too many pixels") from None
    except _CORRUPT:
        raise ImageRejected("corrupt_image", "image data is truncated or corrupt") from None
    return _flatten(upright)


def to_jpeg(img: Image.Image, max_side: int = 1024, quality: int = 90) -> bytes:
    """JPEG bytes with the longest side at most `max_side` (never upscaled), without metadata."""
    if max(img.size) > max_side:
        img = img.copy()
        # Bicubic with a reducing gap: close to Lanczos for a downscale, at ~60% of its CPU cost.
        img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=3.0)
    out = io.BytesIO()
    _flatten(img).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _draft(img: Image.Image, longest_side: int) -> None:
    """Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 while the long side stays >= longest_side."""
    scale = longest_side / max(img.size)
    if scale < 1:
        img.draft("RGB", (int(img.width * scale) + 1, int(img.height * scale) + 1))


def _open(data: bytes) -> Image.Image:
    """The image with only its header read."""
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise _unidentified(data) from None
    except _BOMB:
        # Pillow refuses at open when the header alone promises a bomb (or warns, and the warning
        # is an error under this process's warning filters).
        raise ImageRejected("image_too_large", "image decompresses to too many pixels") from None
    except _CORRUPT:
        raise ImageRejected("corrupt_image", "image header is truncated or corrupt") from None


def _unidentified(data: bytes) -> ImageRejected:
    other = _other_format(data)
    if other is None:
        return ImageRejected("not_an_image", "the data is not an image")
    return ImageRejected("unsupported_format", f"{other} images are not accepted (JPEG, PNG or WebP)")


def _other_format(data: bytes) -> str | None:
    if data[4:8] == b"ftyp":
        return _ISO_MEDIA_BRANDS.get(data[8:12])
    return next((name for magic, name in _OTHER_SIGNATURES.items() if data.startswith(magic)), None)


def _flatten(img: Image.Image) -> Image.Image:
    """RGB, with transparent areas white: a garment cut out on transparency must not land on black."""
    if not img.has_transparency_data:
        return img.convert("RGB")
    rgba = img.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
