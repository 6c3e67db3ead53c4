"""Small real images for tests, and a local HTTP server that serves them."""

from __future__ import annotations

import io

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def jpeg(width: int = 300, height: int = 400, color: tuple[int, int, int] = (90, 140, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="JPEG")
    return out.getvalue()


def image_app(*, small: bool = False) -> Starlette:
    """/person.jpg and /garment.jpg are real JPEGs (2000 px, so the worker must resize, unless
    `small`: 300 px, cheap for tests that push many tasks); /page.html is not an image."""
    side, other = (400, 300) if small else (2000, 1500)
    person, garment = jpeg(other, side), jpeg(side, other, (200, 60, 60))

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
