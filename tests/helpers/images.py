"""Small real images for tests (and headers that declare another size), and a local HTTP server
that serves them."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def jpeg(width: int = 300, height: int = 400, color: tuple[int, int, int] = (90, 140, 200)) -> bytes:
    return encoded(Image.new("RGB", (width, height), color), "JPEG")


def encoded(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def declaring(data: bytes, fmt: str, size: tuple[int, int]) -> bytes:
    """`data` (a small real image) with its header declaring `size` instead."""
    width, height = size
    buf = bytearray(data)
    if fmt == "PNG":  # IHDR's data is bytes 16-29, its CRC 29-33
        struct.pack_into(">II", buf, 16, width, height)
        struct.pack_into(">I", buf, 29, zlib.crc32(bytes(buf[12:29])))
    elif fmt == "JPEG":
        struct.pack_into(">HH", buf, _jpeg_sof(data) + 5, height, width)
    elif buf[12:16] == b"VP8X":
        buf[24:27], buf[27:30] = (width - 1).to_bytes(3, "little"), (height - 1).to_bytes(3, "little")
    elif buf[12:16] == b"VP8L":
        bits = int.from_bytes(buf[21:25], "little") & ~((1 << 28) - 1)
        buf[21:25] = (bits | (width - 1) | (height - 1) << 14).to_bytes(4, "little")
    else:  # "VP8 "
        struct.pack_into("<HH", buf, 26, width, height)
    return bytes(buf)


def _jpeg_sof(data: bytes) -> int:
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return pos


def image_app(*, small: bool = False, images: tuple[bytes, bytes] | None = None) -> Starlette:
    """/person.jpg and /garment.jpg are real JPEGs (2000 px, more than the provider is sent, unless
    `small`: 300 px, cheap for tests that push many tasks; or `images`, the caller's own);
    /page.html is not an image."""
    side, other = (400, 300) if small else (2000, 1500)
    person, garment = images or (jpeg(other, side), jpeg(side, other, (200, 60, 60)))

    async def person_jpg(_: Request) -> Response:
        return Response(person, media_type="image/jpeg")

    async def garment_jpg(_: Request) -> Response:
        return Response(garment, media_type="image/jpeg")

    async def page(_: Request) -> Response:
        return Response(b"<html>not an image</html>", media_type="text/html")

    return Starlette(
        routes=[
            Route("/person.jpg", person_jpg),
            Route("/garment.jpg", garment_jpg),
            Route("/page.html", page),
        ]
    )
