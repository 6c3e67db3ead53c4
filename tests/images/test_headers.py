"""Facts read from the bytes before any decoder runs, checked against what Pillow reads."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.helpers.images import declaring, encoded
from wearon.images import headers


@pytest.mark.parametrize(
    ("mode", "options", "alpha"),
    [
        ("RGB", {"quality": 80}, False),  # lossy: a "VP8 " chunk
        ("RGBA", {"lossless": True}, True),  # lossless with alpha
        ("RGB", {"lossless": True}, False),
        ("RGBA", {"quality": 80}, True),  # lossy with alpha: VP8X, ALPH, VP8
    ],
)
def test_a_webps_canvas_and_alpha_are_read_as_pillow_reads_them(
    mode: str, options: dict[str, object], alpha: bool
) -> None:
    data = encoded(Image.new(mode, (321, 123)), "WEBP", **options)
    opened = Image.open(io.BytesIO(data))
    assert headers.webp_canvas(data) == ((321, 123), alpha) == (opened.size, opened.mode == "RGBA")


def test_a_webps_declared_canvas_is_read_however_large() -> None:
    data = declaring(encoded(Image.new("RGBA", (8, 8)), "WEBP", lossless=True), "WEBP", (16_000, 9_000))
    assert headers.webp_canvas(data) == ((16_000, 9_000), True)


@pytest.mark.parametrize("data", [b"", b"RIFF", encoded(Image.new("RGB", (4, 4)), "PNG")])
def test_what_is_not_a_webp_has_no_canvas(data: bytes) -> None:
    assert headers.webp_canvas(data) is None


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def sos(components: int) -> bytes:
    return segment(0xDA, bytes([components]) + b"\x01\x00" * components + b"\x00\x3f\x00")


def test_the_first_scans_component_count_is_read_past_every_other_segment() -> None:
    # Given a sequential JPEG's headers whose first scan carries only one of three components
    # (libjpeg then buffers the whole image), behind an APP1 holding an 0xFFDA of its own
    app1 = segment(0xE1, b"Exif\0\0" + b"\xff\xda\x00\x0c\x03" * 10)
    sof0 = segment(0xC0, b"\x08\x00\x10\x00\x10\x03" + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01")
    data = b"\xff\xd8" + app1 + b"\xff\xff" + sof0 + sos(1) + b"\x00" * 32
    assert headers.jpeg_first_scan_components(data) == 1
    assert headers.jpeg_first_scan_components(data.replace(sos(1), sos(3))) == 3


def test_pillows_jpegs_scan_all_components_first() -> None:
    for progressive in (False, True):
        data = encoded(Image.new("RGB", (16, 16)), "JPEG", progressive=progressive)
        assert headers.jpeg_first_scan_components(data) == 3


@pytest.mark.parametrize(
    "data", [b"\xff\xd8", b"\xff\xd8\x00\x00\x00\x00\x00", b"\xff\xd8" + b"\xff\xe0\xff\xff"]
)
def test_a_jpeg_without_a_readable_scan_header_has_no_count(data: bytes) -> None:
    assert headers.jpeg_first_scan_components(data) is None


def test_compressed_png_chunks_are_counted() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for n in range(3):
        info.add_text(f"k{n}", "text", zip=True)
    info.add_itxt("i", "text", zip=True)
    data = encoded(Image.new("RGB", (4, 4)), "PNG", pnginfo=info, icc_profile=b"\0" * 128)
    assert headers.png_inflated_chunks(data) == 5  # 3 zTXt, 1 iTXt, 1 iCCP
