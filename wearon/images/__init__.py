"""Untrusted image bytes in, within a memory budget; 8-bit RGB and JPEG bytes out. Pure, no I/O.

- `decode`: `decode_image`, the one door for untrusted bytes (JPEG, PNG, WebP), with its refusals.
- `budget`: what a decode costs in memory, the most it may, and the per-process decode slots.
- `headers`: facts read from the bytes before any decoder runs.
- `pixels`: any decoded mode to RGB on white at the size asked, strip by strip.
- `encode`: `to_jpeg`, and `as_stored_jpeg`, which keeps a plain JPEG's bytes as they are.
"""

from wearon.images.decode import ALLOWED_FORMATS, MAX_PIXELS, decode_image
from wearon.images.encode import as_stored_jpeg, to_jpeg

__all__ = ["ALLOWED_FORMATS", "MAX_PIXELS", "as_stored_jpeg", "decode_image", "to_jpeg"]
