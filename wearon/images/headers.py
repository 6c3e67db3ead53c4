"""Facts an image's bytes declare, read before any decoder runs.

Pillow's header parse gives the size and the mode. These are what it does not give, or gives only
after allocating: a WebP's canvas (Pillow's WebP decoder allocates it when the file is opened),
whether a JPEG makes libjpeg keep a whole-image coefficient buffer, how much compressed text a PNG
may inflate, and the name of a format we refuse.
"""

from __future__ import annotations

#: Formats people do upload that we refuse, told apart by their first bytes so the message says so.
_OTHER_SIGNATURES = {b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP", b"II*\0": "TIFF", b"MM\0*": "TIFF"}
_ISO_MEDIA_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF"}
#: PNG chunks whose zlib data Pillow inflates into memory (text, and the ICC profile).
_PNG_INFLATED_CHUNKS = (b"zTXt", b"iTXt", b"iCCP")
#: JPEG markers that stand alone, without a length field: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xDA)}
_JPEG_SOS = 0xDA


def other_format(data: bytes) -> str | None:
    """The name of a refused image format the bytes start like, if any."""
    if data[4:8] == b"ftyp":
        return _ISO_MEDIA_BRANDS.get(data[8:12])
    return next((name for magic, name in _OTHER_SIGNATURES.items() if data.startswith(magic)), None)


def webp_canvas(data: bytes) -> tuple[tuple[int, int], bool] | None:
    """The canvas a WebP file declares in its first chunk (VP8X, VP8L or VP8), and whether it has
    alpha; None if the bytes do not start like a WebP."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":  # flags (alpha: 0x10), then 24-bit width-1 and height-1
        size = 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        return size, bool(data[20] & 0x10)
    if chunk == b"VP8L":  # after the 0x2f signature: 14-bit width-1, 14-bit height-1, alpha bit
        bits = int.from_bytes(data[21:25], "little")
        return (1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)), bool(bits >> 28 & 1)
    if chunk == b"VP8 ":  # after the frame tag and start code: 14-bit width, 14-bit height
        size = int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
        return size, False
    return None


def jpeg_first_scan_components(data: bytes) -> int | None:
    """How many components the first scan of a JPEG carries, or None if no scan header is found.

    libjpeg keeps every DCT coefficient of the whole image (2 bytes a sample) when the first scan
    does not carry every component (a multi-scan sequential file), as it does for progressive ones.
    """
    pos = 2
    while pos + 4 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
        elif marker == _JPEG_SOS:
            return data[pos + 4]
        elif marker in _JPEG_STANDALONE:
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


def png_inflated_chunks(data: bytes) -> int:
    """How many chunks of a PNG Pillow may inflate into memory (an upper count: it also finds the
    chunk names inside compressed data, which only makes the estimate safer)."""
    return sum(data.count(name) for name in _PNG_INFLATED_CHUNKS)
